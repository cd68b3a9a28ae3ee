"""Wrong answers a learner may write, each one caught, with a message that says what is wrong.

Each case is a solution notebook with one edit to one exercise cell. The edited notebooks
are graded by ``roomkit grade`` in a subprocess (as an instructor would), a folder per
group of cases with at most one wrong answer per exercise, and each case must fail its
exercise with the expected sentence. These are the answers the exercise texts forbid
and that an earlier version of the tests let pass.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from course_builder import REPO

from roomkit.course.manifest import load_course
from roomkit.course.notebooks import cell_exercise_id, cell_source

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="6.2 needs redis-server"),
]

COURSE = load_course(REPO)


@dataclass(frozen=True)
class Wrong:
    """One wrong answer: in exercise ``exercise``'s cell, ``old`` becomes ``new``; its grade
    must fail with ``expected`` in a message."""

    exercise: str
    old: str
    new: str
    expected: str


CRASH_ON_NO_AUTH = [
    Wrong(
        exercise,
        'auth.get("name") if isinstance(auth, dict) else None',
        'auth.get("name")',
        "nobody's connection to /chat should be refused with 'auth.name is required'; "
        'your server refused it with "the server\'s connect handler raised an exception"',
    )
    for exercise in ("4.2", "5.1", "5.2")
]

GROUPS = [
    [
        Wrong(
            "1.1",
            '    admin = Admin("/admin")\n    admin.use(require_token(admin_token))\n'
            "    sio.register_namespace(admin)",
            '    sio.register_namespace(Admin("/admin"))\n\n'
            '    @sio.on("connect", namespace="/admin")\n'
            "    async def admin_connect(sid, environ, auth):\n"
            '        if auth.get("token") != admin_token:\n'
            '            raise socketio.exceptions.ConnectionRefusedError("Unauthorized")',
            "nobody's connection to /admin should be refused with 'Unauthorized'",
        ),
        Wrong(
            "2.1",
            "if room == sid or room not in",
            "if room not in",
            "bob's 'leave room' '<bob id>' should be answered "
            "{'ok': False, 'error': '<any error text>'} (as with the reference); "
            "your server answered {'ok': True, 'room': '<bob id>'}",
        ),
        Wrong(
            "3.1",
            'await sio.emit("cross-post", payload, to=rooms, skip_sid=sid, namespace="/chat")',
            "for room in rooms:\n"
            '            await sio.emit("cross-post", payload, to=room, skip_sid=sid, '
            'namespace="/chat")',
            "twice; the reference sends it once",
        ),
        Wrong(
            "4.1",
            "not hmac.compare_digest(sent.encode(), expected)",
            "sent.encode() != expected",
            "your require_admin_token never calls compare_digest",
        ),
        CRASH_ON_NO_AUTH[0],
        Wrong(
            "5.1",
            '        if room not in rooms:\n            return {"ok": False, "error": '
            'f"no such room: {room!r}"}\n',
            "",
            # The whole first paragraph of a two-line docstring is the test's title.
            "bad requests are answered with an error: no name, a joined room that does not "
            "exist, leaving a room you are not in: ",
        ),
        Wrong(
            "6.2",
            "await store.forget(sid)",
            "pass",
            "a member who disconnects leaves the count, on every server: bob's 'count' 'lobby' "
            "should be answered {'ok': True, 'room': 'lobby', 'members': 1}",
        ),
        Wrong(
            "7.1",
            'who = sorted(names[member] for member in rooms[room]["members"])',
            'who = sorted({names[member] for member in rooms[room]["members"]})',
            "'members': ['alice', 'alice', 'bob']} (as with the reference)",
        ),
        Wrong(
            "7.2",
            "not hmac.compare_digest(sent.encode(), expected)",
            "sent.encode() != expected",
            "your register_admin never calls compare_digest",
        ),
    ],
    [
        Wrong(
            "3.1",
            'payload = {"rooms": rooms, "user"',
            'payload = {"rooms": sorted(rooms), "user"',
            "alice should have received 'cross-post' [{'rooms': ['random', 'general']",
        ),
        Wrong(
            "4.1",
            'sent = handshake.auth.get("token")',
            'sent = handshake.auth["token"]',
            "Your server, running the middleware on /admin, raised KeyError: 'token'",
        ),
        Wrong(
            "4.3",
            'token = auth.get("token") if isinstance(auth, dict) else None',
            'token = auth.get("token")',
            "nobody's connection to /staff should be refused with",
        ),
        CRASH_ON_NO_AUTH[1],
        CRASH_ON_NO_AUTH[2],
        Wrong(
            "7.1",
            "            await depart(sid, room)\n",
            '            await sio.emit("user left", user(sid, room), room=room, skip_sid=sid, '
            "namespace=CHAT)\n",
            "bob's 'members' 'general' should be answered "
            "{'ok': True, 'room': 'general', 'members': ['bob']}",
        ),
        Wrong(
            "7.2",
            'sent = auth.get("token") if isinstance(auth, dict) else None',
            'sent = auth.get("token")',
            "nobody's connection to /admin should be refused with 'Unauthorized'",
        ),
    ],
    [
        Wrong(
            "5.2",
            "        remove(sid, room)\n"
            '        await sio.leave_room(sid, room, namespace="/chat")\n'
            "        await announce(room)",
            "        before = present(room)\n        remove(sid, room)\n"
            '        await sio.leave_room(sid, room, namespace="/chat")\n'
            "        if present(room) != before:\n            await announce(room)",
            "presence is sent after every join and leave, even when the names did not change: "
            "alice should have received 'presence'",
        ),
        Wrong(
            "7.1",
            "if not is_text(name, MAX_NAME):",
            "if not is_text(name, MAX_NAME - 1):",
            "longest's connection to /chat should be accepted (the reference accepts it)",
        ),
        Wrong(
            "7.2",
            "if not is_text(text, MAX_TEXT):",
            "if not is_text(text, MAX_TEXT - 1):",
            "alice should have received 'system message'",
        ),
    ],
]


def write_submission(folder: Path, group: list[Wrong]) -> None:
    """Copy each touched solution notebook into ``folder`` with the group's edits."""
    folder.mkdir()
    by_exercise = {wrong.exercise: wrong for wrong in group}
    assert len(by_exercise) == len(group), "one wrong answer per exercise and submission"
    for notebook_name in sorted({COURSE.exercise(wrong.exercise).notebook for wrong in group}):
        notebook = nbformat.read(REPO / "solutions" / notebook_name, as_version=4)
        for cell in notebook.cells:
            wrong = by_exercise.get(cell_exercise_id(cell) or "")
            if wrong is not None:
                source = cell_source(cell)
                assert wrong.old in source, f"{wrong.exercise}: {wrong.old!r} not in its cell"
                cell.source = source.replace(wrong.old, wrong.new)
        nbformat.write(notebook, folder / notebook_name)


def test_wrong_answers_are_caught_with_a_message_that_says_why(tmp_path: Path) -> None:
    runs = []
    for number, group in enumerate(GROUPS, start=1):
        folder = tmp_path / f"learner{number}"
        write_submission(folder, group)
        exercises = [argument for wrong in group for argument in ("--exercise", wrong.exercise)]
        command = [sys.executable, "-m", "roomkit", "grade", str(folder), "--quiet"]
        command += [*exercises, "--json", str(tmp_path / f"learner{number}.json")]
        # Each run's results file of its own, outside the repository.
        command += ["--root", str(REPO), "--results", str(tmp_path / f"learner{number}.jsonl")]
        runs.append((group, number, subprocess.Popen(command, cwd=tmp_path)))
    for group, number, process in runs:
        assert process.wait(timeout=240) == 1
        graded = json.loads((tmp_path / f"learner{number}.json").read_text())
        results = {exercise["id"]: exercise for exercise in graded["exercises"]}
        for wrong in group:
            result = results[wrong.exercise]
            assert not result["passed"], f"{wrong.exercise}: {wrong.new!r} passed"
            messages = "\n".join(result["messages"])
            assert wrong.expected in messages, f"{wrong.exercise}:\n{messages}"
