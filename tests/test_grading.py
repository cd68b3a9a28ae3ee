"""``roomkit grade`` on learner notebooks: readable failures, timeouts, JSON and CSV."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
from course_builder import REPO, make_built_course

from roomkit.course.notebooks import cell_exercise_id

ROOMKIT = [sys.executable, "-m", "roomkit"]

BROADCASTS_TO_SENDER = """def register_namespaces(sio, admin_token):
    @sio.on("message", namespace="/chat")
    async def chat_message(sid, text):
        await sio.emit("message", {"user": sid, "text": text}, namespace="/chat")
        return {"ok": True}
"""

DOES_NOT_COMPILE = "def register_namespaces(sio, admin_token)\n    pass\n"

CRASHES_ON_CONNECT = """def register_namespaces(sio, admin_token):
    @sio.on("connect", namespace="/admin")
    async def admin_connect(sid, environ, auth):
        if auth["token"] != admin_token:
            raise socketio.exceptions.ConnectionRefusedError("Unauthorized")
"""

SLOW_ECHO = """def register_echo(sio):
    @sio.on("echo")
    async def echo(sid, text):
        await asyncio.sleep(5)
        return text
"""

OVERRUNNING_TESTS = '''"""Exercise 9.1, with tests that run out of time."""

import asyncio

from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import Stage

EXERCISE = "9.1"
TIME_LIMIT = 0.5


def install(implementation, sio):
    implementation.register_echo(sio)


async def test_the_whole_test_overruns(impl, reference):
    """a test that overruns its time limit"""
    await asyncio.sleep(5)


async def test_the_scenario_overruns_against_a_slow_server(impl, reference):
    """the scenario overruns against a slow server"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("ann")
        await stage.call("ann", "echo", "hi")

    await check_against_reference(impl, reference, install, scenario, timeout=0.3)
'''


def learner_notebook(folder: Path, name: str, **solutions: str) -> Path:
    """A copy of the learner's notebook ``name`` with exercise cells rewritten
    (``solutions`` maps ``"1_1"`` to the new source of exercise 1.1's cell)."""
    notebook = nbformat.read(REPO / "notebooks" / name, as_version=4)
    for cell in notebook.cells:
        exercise_id = cell_exercise_id(cell)
        if exercise_id is not None and exercise_id.replace(".", "_") in solutions:
            cell.source = solutions[exercise_id.replace(".", "_")]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    nbformat.write(notebook, path)
    return path


def run_grade(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ROOMKIT, "grade", *args], cwd=cwd, capture_output=True, text=True, timeout=240
    )


def by_submission(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        Path(entry["submission"]).name: {item["id"]: item for item in entry["exercises"]}
        for entry in document["submissions"]
    }


def test_a_class_is_graded_into_readable_messages_json_and_csv(tmp_path: Path) -> None:
    learner_notebook(tmp_path / "wrong", "01_namespaces.ipynb", **{"1_1": BROADCASTS_TO_SENDER})
    learner_notebook(tmp_path / "syntax", "01_namespaces.ipynb", **{"1_1": DOES_NOT_COMPILE})
    learner_notebook(tmp_path / "crash", "01_namespaces.ipynb", **{"1_1": CRASHES_ON_CONNECT})
    shutil.copytree(REPO / "notebooks", tmp_path / "unsolved")
    shutil.copytree(REPO / "solutions", tmp_path / "solved")
    folders = ["wrong", "syntax", "crash", "unsolved", "solved"]
    done = run_grade(
        *folders,
        "--exercise", "0.1",
        "--exercise", "1.1",
        "--json", "grades.json",
        "--csv", "grades.csv",
        "--root", str(REPO),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stdout.count("total") == len(folders)
    assert "graded wrong: 0 of 2 exercises passed, 0/2" in done.stderr
    grades = by_submission(json.loads((tmp_path / "grades.json").read_text()))

    wrong = grades["wrong"]["1.1"]
    assert not wrong["passed"]
    assert wrong["failed"] >= 1
    assert any(
        "alice should not have received 'message' [{'user': '<alice id>', 'text': 'hi all'}] "
        "(the reference does not send it)" in message
        for message in wrong["messages"]
    ), wrong["messages"]
    assert grades["wrong"]["0.1"]["messages"] == [
        "no notebook in wrong has a cell tagged 'exercise-0.1'"
    ]

    syntax = grades["syntax"]["1.1"]["messages"][0]
    assert "does not compile: SyntaxError" in syntax
    assert "01_namespaces.ipynb, cell" in syntax

    crash = "\n".join(grades["crash"]["1.1"]["messages"])
    assert "Your server, handling 'connect' on /admin, raised KeyError: 'token'" in crash
    assert 'in admin_connect: if auth["token"] != admin_token:' in crash
    assert "site-packages" not in crash

    unsolved = grades["unsolved"]["1.1"]
    assert unsolved["tests"] == unsolved["failed"] > 0
    assert unsolved["messages"][0].endswith(
        "not solved yet: exercise 1.1 (/chat and /admin on one server)"
    )

    for submission in grades.values():
        for item in submission.values():
            assert set(item) == {
                "id", "title", "passed", "tests", "failed", "score", "max_score", "messages"
            }  # fmt: skip
            assert not any("Traceback" in message for message in item["messages"])
    assert all(item["passed"] and item["score"] == 1 for item in grades["solved"].values())

    with (tmp_path / "grades.csv").open(newline="") as gradebook:
        rows = list(csv.DictReader(gradebook))
    assert [row["submission"] for row in rows] == folders
    assert list(rows[0]) == ["submission", "0.1", "1.1", "score", "max_score", "passed", "total"]
    solved, unsolved_row = rows[4], rows[3]
    assert (solved["0.1"], solved["1.1"], solved["score"], solved["passed"]) == ("1", "1", "2", "2")
    assert (unsolved_row["score"], unsolved_row["passed"]) == ("0", "0")


def test_running_out_of_time_is_reported_as_timed_out(tmp_path: Path) -> None:
    course = make_built_course(tmp_path / "course", tests=OVERRUNNING_TESTS)
    learner = nbformat.read(course.notebooks_dir / "09_demo.ipynb", as_version=4)
    learner.cells[1].source = "import asyncio\n\nimport socketio"
    learner.cells[3].source = SLOW_ECHO
    nbformat.write(learner, tmp_path / "09_demo.ipynb")
    done = run_grade(
        "09_demo.ipynb", "--json", "grades.json", "--root", str(course.root), cwd=tmp_path
    )
    assert done.returncode == 1, done.stderr
    document = json.loads((tmp_path / "grades.json").read_text())
    (echo,) = document["exercises"]
    assert (echo["passed"], echo["tests"], echo["failed"], echo["score"]) == (False, 2, 2, 0)
    assert echo["messages"] == [
        "a test that overruns its time limit: timed out: the test did not finish within 0.5 s",
        "the scenario overruns against a slow server: timed out: the scenario did not finish "
        "within 0.3 s against your server (is a handler blocking the event loop: time.sleep, "
        "a loop that never awaits?)\nScenario (a client connects with auth "
        "{'name': <its name>} unless shown): ann connects to /; ann emits 'echo' 'hi' "
        "(with ack)",
    ]
