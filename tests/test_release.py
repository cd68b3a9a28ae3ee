"""``roomkit release DIR`` on this course: no answers and no hidden test in it, and the
released course still runs its notebooks, ``await check``, ``roomkit grade`` and ``make lab``."""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbclient
import nbformat
import pytest
from course_builder import REPO

from roomkit.course.authoring import BEGIN_SOLUTION, END_SOLUTION
from roomkit.course.manifest import load_course
from roomkit.course.notebooks import SETUP_TAG, cell_exercise_id, cell_tags
from roomkit.processes import free_port

ROOMKIT = [sys.executable, "-m", "roomkit"]
HIDDEN_MODULE = REPO / "tests" / "exercises" / "test_2_1_join_and_leave_hidden.py"


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("release") / "class"
    done = subprocess.run(
        [*ROOMKIT, "release", str(root), "--root", str(REPO)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    return root


def solution_regions() -> list[str]:
    """Every solution region of solutions/, as its non-blank lines, stripped."""
    regions = []
    for path in sorted((REPO / "solutions").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            inside: list[str] | None = None
            for line in cell.source.splitlines():
                if line.strip() == BEGIN_SOLUTION:
                    inside = []
                elif line.strip() == END_SOLUTION and inside is not None:
                    regions.append("\n".join(inside))
                    inside = None
                elif inside is not None and line.strip():
                    inside.append(line.strip())
    return regions


def release_texts(root: Path) -> dict[Path, str]:
    """Each file of the release as text a person would read: a notebook's cell sources,
    a JSON file decoded, every other file as it is; lines stripped, blank lines dropped."""
    texts = {}
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if path.suffix == ".ipynb":
            text = "\n".join(cell.source for cell in nbformat.reads(text, as_version=4).cells)
        elif path.suffix == ".json":
            text = json.dumps(json.loads(text), ensure_ascii=False)
        texts[path] = "\n".join(line.strip() for line in text.splitlines() if line.strip())
    return texts


def hidden_tests() -> list[tuple[str, str]]:
    """(name, docstring) of each hidden test of the course."""
    module = ast.parse(HIDDEN_MODULE.read_text())
    return [
        (node.name, ast.get_docstring(node) or "")
        for node in module.body
        if isinstance(node, ast.AsyncFunctionDef) and node.name.startswith("test_")
    ]


def test_the_release_holds_no_solution_text_and_no_hidden_test(released: Path) -> None:
    assert not (released / "solutions").exists()
    texts = release_texts(released)
    regions = solution_regions()
    assert len(regions) == len(load_course(REPO).exercises)
    leaks = [
        (path.relative_to(released), region.splitlines()[0])
        for region in regions
        for path, text in texts.items()
        if region in text
    ]
    assert leaks == []
    assert not any(
        BEGIN_SOLUTION in text for path, text in texts.items() if path.suffix == ".ipynb"
    )
    hidden = hidden_tests()
    assert len(hidden) == 2
    for name, docstring in hidden:
        assert docstring
        assert not [path for path, text in texts.items() if name in text or docstring in text]
    assert not (released / "tests" / "exercises" / HIDDEN_MODULE.name).exists()
    # The release is a course of its own: its manifest at its root, the recordings.
    course = load_course(released)
    assert [exercise.id for exercise in course.exercises] == [
        exercise.id for exercise in load_course(REPO).exercises
    ]
    assert course.exercise("2.1").hidden_tests == ""
    assert sorted(path.name for path in (released / "notebooks" / ".expected").iterdir()) == sorted(
        f"{exercise.id}.json" for exercise in course.exercises
    )
    assert json.loads((released / "notebooks" / ".expected" / "2.1.json").read_text())[
        "hidden"
    ] == {"tests": 2, "cover": "leaving and joining again, and members of several rooms"}


def grade(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ROOMKIT, "grade", *args], cwd=cwd, capture_output=True, text=True, timeout=240
    )


def test_grade_in_the_release_passes_the_answers_and_fails_the_stubs(
    released: Path, tmp_path: Path
) -> None:
    shutil.copytree(REPO / "solutions", tmp_path / "answers")
    done = grade(
        str(tmp_path / "answers"),
        str(released / "notebooks"),
        "--json",
        str(tmp_path / "grades.json"),
        "--quiet",
        cwd=released,
    )
    assert done.returncode == 1, done.stderr
    answers, stubs = json.loads((tmp_path / "grades.json").read_text())["submissions"]
    assert len(answers["exercises"]) == len(load_course(REPO).exercises)
    assert all(exercise["passed"] for exercise in answers["exercises"])
    assert answers["score"] == answers["max_score"]
    hidden_names = {name for name, _ in hidden_tests()}
    assert stubs["score"] == 0
    for exercise in stubs["exercises"]:
        assert exercise["tests"] == exercise["failed"] > 0
        assert not any(name in json.dumps(exercise) for name in hidden_names)
        assert all("not solved yet" in message for message in exercise["messages"])


def _exercise_cells(path: Path, exercise_id: str) -> list[str]:
    return [
        cell.source
        for cell in nbformat.read(path, as_version=4).cells
        if SETUP_TAG in cell_tags(cell) or cell_exercise_id(cell) == exercise_id
    ]


@pytest.mark.notebooks
def test_await_check_in_the_release_passes_the_answers_and_fails_the_stubs(
    released: Path,
) -> None:
    answer = _exercise_cells(REPO / "solutions" / "02_rooms.ipynb", "2.1")
    stub = _exercise_cells(released / "notebooks" / "02_rooms.ipynb", "2.1")
    cells = [
        "from roomkit.check import check",
        *answer,
        'answered = await check("2.1")',
        *stub,
        'stubbed = await check("2.1")\nprint("RESULTS", answered.passed, stubbed.passed)',
    ]
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in cells],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(released / "notebooks")}},
    )
    client.execute()
    printed = "".join(output.get("text", "") for cell in notebook.cells for output in cell.outputs)
    assert "RESULTS True False" in printed
    assert (
        printed.count(
            "2 more checks run at grading (they cover: leaving and joining again, "
            "and members of several rooms)"
        )
        == 2
    )
    assert "not solved yet: exercise 2.1" in printed
    for name, docstring in hidden_tests():
        assert name not in printed
        assert docstring not in printed


@pytest.mark.notebooks
@pytest.mark.timeout(600)
def test_the_released_notebooks_run_under_nbval(released: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval-lax", "notebooks"],
        cwd=released,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout.splitlines()[-1]


@pytest.fixture
def lab(released: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``make lab`` in the release, with this checkout's environment standing in for
    the release's own .venv (the set-up step is pip's business, not this test's)."""
    stamp = released / "installed.stamp"
    stamp.touch()
    port = free_port()
    process = subprocess.Popen(
        [
            "make",
            "lab",
            f"BIN={Path(sys.executable).parent}",
            f"STAMP={stamp}",
            f"LAB_FLAGS=--allow-root --no-browser --port={port} --ServerApp.port_retries=0 "
            "--IdentityProvider.token=release-test",
        ],
        cwd=released,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        yield process, port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.notebooks
def test_make_lab_in_the_release_serves_its_notebooks(
    lab: tuple[subprocess.Popen[str], int],
) -> None:
    process, port = lab
    url = f"http://127.0.0.1:{port}/api/contents?token=release-test"
    deadline = time.monotonic() + 60
    listing = None
    while listing is None:
        assert process.poll() is None, "make lab ended"
        assert time.monotonic() < deadline, "JupyterLab did not answer within 60 s"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                listing = json.load(response)
        except OSError:
            time.sleep(0.2)  # polling a server that is starting: no event to wait for
    names = {item["name"] for item in listing["content"]}
    assert "02_rooms.ipynb" in names
    assert ".expected" not in names  # hidden files stay hidden in Lab


def test_the_release_installs_the_versions_the_course_was_tested_with(released: Path) -> None:
    pins = released / "constraints.txt"
    assert pins.read_text() == (REPO / "constraints.txt").read_text()
    planned = subprocess.run(
        ["make", "-n", "setup"], cwd=released, capture_output=True, text=True, timeout=60
    )
    assert planned.returncode == 0, planned.stderr
    assert "pip install --quiet -c constraints.txt -e '.[course]'" in planned.stdout
