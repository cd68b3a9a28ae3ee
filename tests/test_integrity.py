"""The course's parts agree, and every exercise's tests can tell solved from unsolved.

Rustlings' check, for this course: each exercise has a solution region, a
generated stub and tests; its tests pass on the reference and at least one
fails on the stub; ``notebooks/`` is up to date; nothing is left over.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
from course_builder import REPO, code, make_built_course, notebook, solution_notebook
from nbformat.v4 import new_markdown_cell

from roomkit.integrity import course_problems, shape_problems
from roomkit.manifest import load_course


def test_manifest_notebooks_stubs_and_tests_agree() -> None:
    assert course_problems(load_course(REPO)) == []


def test_reference_passes_every_test_and_each_stub_fails_one(tmp_path: Path) -> None:
    course = load_course(REPO)
    out = tmp_path / "grades.json"
    done = subprocess.run(
        [sys.executable, "-m", "roomkit", "grade", "--quiet", "--json", str(out),
         "--root", str(REPO), str(course.solutions_dir), str(course.notebooks_dir)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # the unsolved notebooks fail, as they should
    reference, stubs = json.loads(out.read_text())["submissions"]
    assert [item["id"] for item in reference["exercises"]] == [e.id for e in course.exercises]
    for item in reference["exercises"]:
        assert item["tests"] > 0, item
        assert item["passed"], item
    for item in stubs["exercises"]:
        assert item["failed"] >= 1, item
        assert not item["passed"], item
    assert (reference["passed"], stubs["passed"]) == (len(course.exercises), 0)


def test_leftovers_and_gaps_are_reported(tmp_path: Path) -> None:
    course = make_built_course(tmp_path)
    assert course_problems(course) == []
    (course.tests_dir / "test_9_2_orphan.py").write_text('EXERCISE = "9.2"\n')
    (course.notebooks_dir / "08_old.ipynb").write_text("{}")
    (course.solutions_dir / "scratch.ipynb").write_text("{}")
    (course.tests_dir / "test_9_1_echo.py").write_text("EXERCISE = '9.1'\n")
    solution = nbformat.read(course.solutions_dir / "09_demo.ipynb", as_version=4)
    solution.cells[0].source = "# 09 · Demo, edited after the last build"
    nbformat.write(solution, course.solutions_dir / "09_demo.ipynb")
    problems = "\n".join(course_problems(course))
    for expected in (
        "tests/exercises/test_9_2_orphan.py: no exercise in solutions/exercises.toml names it",
        "notebooks/08_old.ipynb: no solutions/ notebook generates it",
        "solutions/scratch.ipynb: unexpected",
        "tests/exercises/test_9_1_echo.py: has no test functions",
        "notebooks/09_demo.ipynb: out of date, run `roomkit build`",
    ):
        assert expected in problems
    (course.tests_dir / "test_9_1_echo.py").unlink()
    assert "its test module tests/exercises/test_9_1_echo.py does not exist" in "\n".join(
        course_problems(course)
    )


def test_notebooks_keep_the_course_shape() -> None:
    assert shape_problems(solution_notebook(), "09_demo.ipynb") == []
    bare = notebook(code("x = 1"), new_markdown_cell("Some prose."), code("y = 2"), code("z = 3"))
    assert shape_problems(bare, "09_demo.ipynb") == [
        "09_demo.ipynb: the first cell must be markdown with the Learning goals",
        "09_demo.ipynb: no '## Recap' section",
        "09_demo.ipynb: no '## Questions from the source' section",
        "09_demo.ipynb: no '## What comes next' section",
        "09_demo.ipynb cell 4: introduce this code cell with some prose",
    ]
