"""The course's parts agree, and every exercise's tests can tell solved from unsolved.

Rustlings' check, for this course: each exercise has a solution region, a
generated stub and tests; its tests pass on the reference and at least one
fails on the stub; ``notebooks/`` is up to date; nothing is left over.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
from course_builder import (
    SOLVED,
    TESTS,
    build,
    code,
    make_built_course,
    make_course,
    notebook,
    solution_notebook,
)
from nbformat.v4 import new_markdown_cell

from roomkit.course.integrity import course_problems, shape_problems
from roomkit.course.manifest import load_course

REPO = Path(__file__).resolve().parent.parent


def test_manifest_notebooks_stubs_and_tests_agree() -> None:
    assert course_problems(load_course(REPO)) == []


WEAK_TESTS = (
    TESTS
    + '''

async def test_connecting_works(impl, reference):
    """a client can connect"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("ann")

    await check_against_reference(impl, reference, install, scenario)
'''
)


def check_course(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roomkit", "check-course", "--root", str(root)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_check_course_passes_a_sound_course(tmp_path: Path) -> None:
    make_built_course(tmp_path)
    done = check_course(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "the course is consistent: 1 exercises, files agree, every test can fail" in done.stdout


def test_check_course_names_a_test_that_passes_on_an_empty_implementation(
    tmp_path: Path,
) -> None:
    make_built_course(tmp_path, tests=WEAK_TESTS)
    done = check_course(tmp_path)
    assert done.returncode == 1
    weak = "tests/exercises/test_9_1_echo.py::test_connecting_works"
    assert f"{weak} passes on an empty implementation: it checks nothing" in done.stderr
    assert f"{weak} passes on the generated stub" not in done.stderr  # the stub raises at once
    assert "test_echo_answers_with_the_text passes" not in done.stderr


def test_check_course_lists_every_problem_at_once(tmp_path: Path) -> None:
    course = make_built_course(tmp_path, tests=WEAK_TESTS)
    (course.notebooks_dir / "08_old.ipynb").write_text("{}")
    (course.solutions_dir / "scratch.ipynb").write_text("{}")
    done = check_course(tmp_path)
    assert done.returncode == 1
    for expected in (
        "notebooks/08_old.ipynb: no solutions/ notebook generates it",
        "solutions/scratch.ipynb: unexpected",
        "test_connecting_works passes on an empty implementation",
        "3 problems",
    ):
        assert expected in done.stderr


def test_check_course_refuses_a_reference_that_raises(tmp_path: Path) -> None:
    raising = SOLVED.replace("return PREFIX + text", "return PREFIX + text + UNDEFINED")
    course = make_course(tmp_path)
    nbformat.write(solution_notebook(raising), course.solutions_dir / "09_demo.ipynb")
    build(course)
    done = check_course(tmp_path)
    assert done.returncode == 1
    assert "test_echo_answers_with_the_text fails on the reference" in done.stderr
    assert "NameError: name 'UNDEFINED' is not defined" in done.stderr


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
