"""The recorded reference and hidden tests, on a throwaway one-exercise course:
``roomkit build`` records, ``--check`` finds stale and unsteady recordings, a hidden
test counts at grading only, and ``await check`` names how many there are."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
from course_builder import SOLVED, TESTS, make_built_course, solution_notebook

from roomkit.course.manifest import load_course
from roomkit.course.release import public_test_source

ROOMKIT = [sys.executable, "-m", "roomkit"]

HIDDEN_TESTS = (
    TESTS.replace("from roomkit.course.judge", "import pytest\n\nfrom roomkit.course.judge")
    + '''

@pytest.mark.hidden
async def test_echo_keeps_an_empty_text(impl, reference):
    """an empty text comes back empty"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("ann")
        await stage.call("ann", "echo", "")

    await check_against_reference(impl, reference, install, scenario)
'''
)

# Passes the public test, fails the hidden one.
EMPTY_IS_NOTHING = """def register_echo(sio):
    @sio.on("echo")
    async def echo(sid, text):
        return text or None
"""


def roomkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ROOMKIT, *args], cwd=cwd, capture_output=True, text=True, timeout=240)


def hidden_course(root: Path) -> Path:
    course = make_built_course(root, tests=HIDDEN_TESTS)
    manifest = course.manifest_path
    manifest.write_text(
        manifest.read_text()
        + 'hidden_cover = "empty texts"\ntest_points = { test_echo_answers_with_the_text = 3 }\n'
    )
    done = roomkit("build", cwd=root)
    assert done.returncode == 0, done.stderr
    return root


def learner(folder: Path, course: Path, source: str) -> Path:
    notebook = nbformat.read(course / "notebooks" / "09_demo.ipynb", as_version=4)
    notebook.cells[3].source = source
    folder.mkdir(parents=True)
    nbformat.write(notebook, folder / "09_demo.ipynb")
    return folder


def graded(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document["exercises"][0]


def test_a_hidden_test_changes_the_grade_but_not_the_check(tmp_path: Path) -> None:
    course = hidden_course(tmp_path / "course")
    recording = json.loads((course / "notebooks" / ".expected" / "9.1.json").read_text())
    assert recording["hidden"] == {"tests": 1, "cover": "empty texts"}
    assert list(recording["scenarios"]) == ["test_9_1_echo.py::test_echo_answers_with_the_text"]
    submission = learner(tmp_path / "ann", course, EMPTY_IS_NOTHING)

    done = roomkit(
        "grade", str(submission), "--json", "grade.json", "--root", str(course), cwd=tmp_path
    )
    assert done.returncode == 1, done.stderr
    echo = graded(tmp_path / "grade.json")
    # Shares 3 (public) and 1 (hidden) of 1 point: the hidden failure costs a quarter.
    assert (echo["tests"], echo["failed"], echo["score"]) == (2, 1, 0.75)

    # await check's code path, in a process of its own: the hidden test neither runs
    # nor shows; its count and the instructor's description do.
    script = (
        "import asyncio\n"
        "from roomkit.course.check import check\n"
        f"names = {{}}\nexec({('import socketio' + chr(10) + EMPTY_IS_NOTHING)!r}, names)\n"
        "async def checked():\n    return await check('9.1', namespace=names)\n"
        "report = asyncio.run(checked())\n"
        "print('PASSED', report.passed, report.tests)\n"
    )
    checked = subprocess.run(
        [sys.executable, "-c", script], cwd=course, capture_output=True, text=True, timeout=120
    )
    assert "PASSED True 1" in checked.stdout, checked.stdout + checked.stderr
    assert "1 more check run at grading (they cover: empty texts)" in checked.stdout
    assert "empty text comes back" not in checked.stdout

    release = tmp_path / "release"
    done = roomkit("release", str(release), "--root", str(course), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    released_tests = (release / "tests" / "exercises" / "test_9_1_echo.py").read_text()
    assert "test_echo_answers_with_the_text" in released_tests
    assert "empty" not in released_tests
    assert "test_echo_keeps_an_empty_text" not in (release / "exercises.toml").read_text()
    assert load_course(release).exercise("9.1").test_points == (
        ("test_echo_answers_with_the_text", 3.0),
    )
    # Graded in the release (recordings, no solutions/), the same notebook gets full marks.
    done = roomkit(
        "grade", str(submission), "--json", "release.json", "--root", str(release), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    echo = graded(tmp_path / "release.json")
    assert (echo["tests"], echo["failed"], echo["score"]) == (1, 0, 1)


def test_the_recorded_reference_judges_without_solutions(tmp_path: Path) -> None:
    course = hidden_course(tmp_path / "course")
    (course / "solutions" / "exercises.toml").rename(course / "exercises.toml")
    shutil.rmtree(course / "solutions")
    shouting = learner(tmp_path / "bob", course, SOLVED.replace("PREFIX + text", "text.upper()"))
    right = learner(tmp_path / "cy", course, SOLVED)
    done = roomkit(
        "grade", str(shouting), str(right), "--json", "grade.json", "--root", str(course),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    bob, cy = json.loads((tmp_path / "grade.json").read_text())["submissions"]
    assert bob["exercises"][0]["messages"] == [
        "echo answers with the text: ann's 'echo' 'hi' should be answered 'hi' (as with the "
        "reference); your server answered 'HI'\nScenario (a client connects with auth "
        "{'name': <its name>} unless shown): ann connects to /; ann emits 'echo' 'hi' (with ack)"
    ]
    assert cy["exercises"][0]["passed"]

    recording = course / "notebooks" / ".expected" / "9.1.json"
    stale = json.loads(recording.read_text())
    stale["scenarios"] = {}
    recording.write_text(json.dumps(stale))
    done = roomkit("grade", str(right), "--json", "stale.json", "--root", str(course), cwd=tmp_path)
    assert done.returncode == 1
    assert graded(tmp_path / "stale.json")["messages"] == [
        "echo answers with the text: this test is broken, tell your instructor: 9.1.json has "
        "no recording of scenario 1 of test_9_1_echo.py::test_echo_answers_with_the_text: the "
        "recording is stale (`roomkit build` records it again)"
    ]

    recording.unlink()
    done = roomkit("grade", str(right), "--json", "gone.json", "--root", str(course), cwd=tmp_path)
    assert done.returncode == 1
    (message,) = graded(tmp_path / "gone.json")["messages"]
    assert "this test is broken, tell your instructor" in message
    assert "9.1.json does not exist: `roomkit build` records the reference" in message


def test_build_check_finds_stale_and_unsteady_recordings(tmp_path: Path) -> None:
    course = hidden_course(tmp_path / "course")
    done = roomkit("build", "--check", cwd=course)
    assert done.returncode == 0, done.stderr
    assert "notebooks/.expected/ is up to date (1 recordings)" in done.stdout

    # The reference changes inside its solution region: the learner's notebook does
    # not, the recording does.
    path = course / "solutions" / "09_demo.ipynb"
    nbformat.write(solution_notebook(SOLVED.replace("PREFIX + text", "text + '!'")), path)
    done = roomkit("build", "--check", cwd=course)
    assert done.returncode == 1
    assert "stale: notebooks/.expected/9.1.json is not what the reference observes now" in (
        done.stderr
    )
    assert "notebooks/ is up to date" in done.stdout

    nbformat.write(solution_notebook(SOLVED.replace("PREFIX + text", "str(id(object()))")), path)
    done = roomkit("build", "--check", cwd=course)
    assert done.returncode == 1
    assert "not deterministic: test_9_1_echo.py::test_echo_answers_with_the_text" in done.stderr


def test_hidden_tests_are_cut_from_a_public_module() -> None:
    source, cut = public_test_source(HIDDEN_TESTS, "test_9_1_echo.py")
    assert cut == ["test_9_1_echo.py::test_echo_keeps_an_empty_text"]
    assert source is not None
    assert "empty" not in source
    assert "async def test_echo_answers_with_the_text" in source
    compile(source, "public", "exec")
    hidden_module = "import pytest\n\npytestmark = [pytest.mark.hidden]\n" + TESTS
    assert public_test_source(hidden_module, "test_x.py") == (None, ["test_x.py"])
