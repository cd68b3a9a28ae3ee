"""``roomkit grade`` over a class: worker processes, deadlines, the results file, exit statuses.

Real ``roomkit grade`` processes on exercise 0.1 (the cheapest). ``--no-sandbox``
puts each submission's code in its worker process, which is what the grader's
own defences (one report over a private pipe, the process group killed) are for.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from course_builder import REPO

from roomkit.course.class_progress import ClassProgress
from roomkit.course.manifest import load_course
from roomkit.course.notebooks import cell_exercise_id
from roomkit.course.records import failed_row

ROOMKIT = [sys.executable, "-m", "roomkit", "grade", "--root", str(REPO), "--exercise", "0.1"]
STUB = 'def register_greeter(sio):\n    raise NotImplementedError("not solved")\n'

# A well-formed record of full marks, written to the worker's report pipe before
# the worker writes its own.
FORGES_A_FULL_SCORE = """import json, os, sys
def _arg(flag):
    return sys.argv[sys.argv.index(flag) + 1]
_test = {"name": "x", "outcome": "passed", "message": "", "test_id": "x"}
_record = {"submission": _arg("--label"), "selection": ["0.1"], "seconds": 1,
           "exercises": [{"id": "0.1", "problem": "", "tests": [_test]}]}
os.write(int(_arg("--result-fd")), (json.dumps(_record) + "\\n").encode())
"""

# Loops forever at load, catching whatever is raised to stop it.
HANGS = (
    "import time\nwhile True:\n    try:\n        time.sleep(0.5)\n"
    "    except BaseException:\n        pass\n"
)


def student(folder: Path, cell: str | None = None, name: str = "00_start_here.ipynb") -> Path:
    """A submission folder holding notebook 00, solved (``cell`` None) or with ``cell``."""
    source = REPO / ("solutions" if cell is None else "notebooks") / "00_start_here.ipynb"
    notebook = nbformat.read(source, as_version=4)
    for each in notebook.cells:
        if cell is not None and cell_exercise_id(each) == "0.1":
            each.source = cell
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / name)
    return folder


def rows(stdout: str) -> dict[str, dict[str, object]]:
    document = json.loads(stdout)
    entries = document.get("submissions", [document])
    return {Path(str(entry["submission"])).name: entry for entry in entries}


def messages(row: dict[str, object]) -> list[str]:
    exercises = row["exercises"]
    assert isinstance(exercises, list)
    return [message for exercise in exercises for message in exercise["messages"]]


def pid_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.timeout(300)
def test_a_worker_that_exits_forks_forges_or_hangs_gets_a_row_that_says_so(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "left.pid"
    student(tmp_path / "exits", "import os\nos._exit(0)\n")
    student(tmp_path / "forges", FORGES_A_FULL_SCORE + STUB)
    student(
        tmp_path / "leaves_a_child",
        f"import os, time\nif os.fork() == 0:\n"
        f"    open({str(marker)!r}, 'w').write(str(os.getpid()))\n"
        "    while True:\n        time.sleep(1)\n" + STUB,
    )
    student(tmp_path / "hangs", HANGS)
    names = ["exits", "forges", "leaves_a_child", "hangs"]
    command = [*ROOMKIT, *names, "--no-sandbox", "--jobs", "2", "--timeout", "12", "--json", "-"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    try:
        assert done.returncode == 1, done.stderr[-3000:]
        found = rows(done.stdout)
        assert list(found) == names
        assert messages(found["exits"]) == [
            "grading ended without a result: the grading process exited with status 0 before "
            "reporting (does the code call os._exit() or sys.exit()?)"
        ]
        assert messages(found["forges"]) == [
            "grading failed: the grading process reported 2 results instead of one "
            "(does the code fork?)"
        ]
        assert messages(found["hangs"]) == ["grading did not finish within 12 s"]
        assert all(row["score"] == 0 for row in found.values())
        assert "not solved" in messages(found["leaves_a_child"])[0]
        assert not pid_is_alive(int(marker.read_text())), "the forked child outlived its grading"
    finally:
        if marker.exists() and pid_is_alive(int(marker.read_text())):
            os.kill(int(marker.read_text()), signal.SIGKILL)


@pytest.mark.timeout(200)
def test_notebooks_are_found_by_their_tags_and_a_path_with_none_is_an_error(
    tmp_path: Path,
) -> None:
    renamed = (
        student(tmp_path / "single", name="00_start_here (1).ipynb") / "00_start_here (1).ipynb"
    )
    (tmp_path / "nothing").mkdir()
    (tmp_path / "notes.txt").write_text("my homework is in my other laptop")
    paths = [str(renamed), "nothing", "notes.txt"]
    done = subprocess.run(
        [*ROOMKIT, *paths, "--json", "-"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "roomkit grade: nothing: no gradable notebook" in done.stderr
    assert "roomkit grade: notes.txt: no gradable notebook" in done.stderr
    found = rows(done.stdout)
    assert (
        found["00_start_here (1).ipynb"]["score"],
        found["00_start_here (1).ipynb"]["total"],
    ) == (1, 1)
    assert found["00_start_here (1).ipynb"]["notes"] == [
        "graded '00_start_here (1).ipynb' as 00_start_here.ipynb"
    ]
    assert messages(found["nothing"]) == ["no notebook in nothing has a cell tagged 'exercise-0.1'"]
    assert messages(found["notes.txt"]) == ["notes.txt has no cell tagged 'exercise-0.1'"]
    assert (found["nothing"]["total"], found["notes.txt"]["total"]) == (1, 1)

    alone = subprocess.run(
        [*ROOMKIT, str(renamed), "--quiet"], cwd=tmp_path, capture_output=True, timeout=120
    )
    assert alone.returncode == 0, "every exercise passed"


def _workers_of(label_part: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
            if b"roomkit.course.grade_worker" in arguments and any(
                label_part.encode() in argument for argument in arguments
            ):
                found.append(int(entry.name))
    return found


def _exits_within(pid: int, seconds: float) -> bool:
    """Whether process ``pid`` (not a child of ours) ends within ``seconds``."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([handle], [], [], seconds)[0])
    finally:
        os.close(handle)


@pytest.mark.timeout(300)
def test_a_killed_grader_loses_nothing_leaves_no_worker_and_resume_grades_the_rest(
    tmp_path: Path,
) -> None:
    student(tmp_path / "first")
    student(tmp_path / "hangs", HANGS)
    student(tmp_path / "last")
    names = [str(tmp_path / name) for name in ("first", "hangs", "last")]
    results = tmp_path / "results.jsonl"
    with subprocess.Popen(
        [*ROOMKIT, *names, "--no-sandbox", "--jobs", "2", "--results", str(results)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as grader:
        assert grader.stderr is not None
        # The progress line comes after the row is on disk: kill the grader then,
        # while the worker of "hangs" (started with "first") is still at it.
        for line in grader.stderr:
            if line.startswith("graded "):
                break
        (hanging,) = _workers_of(names[1])
        grader.kill()
    try:
        assert _exits_within(hanging, 30), f"worker {hanging} outlived the grader"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(hanging, signal.SIGKILL)
    recorded = results.read_text().splitlines()
    assert len(recorded) == 1

    done = subprocess.run(
        [*ROOMKIT, *names, "--resume", "--results", str(results), "--timeout", "15", "--json", "-"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("(recorded earlier)") == 1
    found = rows(done.stdout)
    assert list(found) == ["first", "hangs", "last"]
    assert (found["first"]["score"], found["hangs"]["score"], found["last"]["score"]) == (1, 0, 1)
    # Sealed, the candidate host's own deadline ends the hanging cell first;
    # unsealed, the worker's deadline ends the worker.
    assert messages(found["hangs"]), found["hangs"]
    assert all("did not finish within" in message for message in messages(found["hangs"]))
    assert len(results.read_text().splitlines()) == 3


def test_require_sandbox_refuses_to_grade_where_grading_cannot_be_sealed(tmp_path: Path) -> None:
    student(tmp_path / "ada")
    no_bwrap = tmp_path / "bin"  # a PATH without bubblewrap: grading cannot be sealed
    no_bwrap.mkdir()
    done = subprocess.run(
        [*ROOMKIT, "ada", "--require-sandbox"],
        cwd=tmp_path,
        env={**os.environ, "PATH": str(no_bwrap)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "roomkit grade: --require-sandbox: sealed grading is not available: "
        "bubblewrap (bwrap) is missing or cannot create namespaces here\n"
    )
    assert not (tmp_path / "roomkit-grade.jsonl").exists()


def test_the_progress_line_on_a_terminal_is_redrawn_in_place_with_the_time_left() -> None:
    course = load_course(REPO)
    stream = io.StringIO()
    progress = ClassProgress(stream, total=3, tty=True)
    passed = failed_row("ada", [], "")
    progress(passed, True)
    assert stream.getvalue() == (
        "\r\x1b[K[########----------------] 1/3 submissions, 0 not fully passed, time left unknown"
    )
    progress(failed_row("ben", [course.exercise("0.1")], "no notebook"), False)
    line = stream.getvalue().rsplit("\r", 1)[1]
    assert line.startswith("\x1b[K[################--------] 2/3 submissions, 1 not fully")
    assert line.endswith(" left")
    assert ", about " in line
    progress(passed, False)
    assert stream.getvalue().endswith("3/3 submissions, 1 not fully passed, done\n")
