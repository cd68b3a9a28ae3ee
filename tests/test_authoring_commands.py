"""``roomkit new-notebook`` and ``roomkit new-exercise`` as an instructor runs them, on a
throwaway course, and what ``roomkit build`` and ``roomkit check-course`` then say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from course_builder import SOLVED, code, make_built_course, make_course, notebook

from roomkit.cli import main
from roomkit.course.authoring import notebook_problems
from roomkit.course.integrity import course_problems, exercise_cell_problems, order_problems
from roomkit.course.manifest import load_course
from roomkit.course.notebooks import cell_tags, read_notebook

ROOMKIT = [sys.executable, "-m", "roomkit"]


def roomkit(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``roomkit`` as an instructor does, in a process of its own."""
    return subprocess.run(
        [*ROOMKIT, *args, "--root", str(root)], capture_output=True, text=True, timeout=120
    )


def roomkit_here(
    capsys: pytest.CaptureFixture[str], root: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """The same command line, run in this process (cheaper where no process matters)."""
    status = main([*args, "--root", str(root)])
    printed = capsys.readouterr()
    return subprocess.CompletedProcess(args, status, printed.out, printed.err)


def test_new_notebook_writes_the_course_shape_and_says_what_is_left(tmp_path: Path) -> None:
    make_built_course(tmp_path)
    done = roomkit(tmp_path, "new-notebook", "10_history.ipynb", "--title", "Message history")
    assert done.returncode == 0, done.stderr
    assert "add a row for `10_history` to the notebook table in README.md" in done.stdout
    assert "[10 · Message history](10_history.ipynb)" in done.stdout
    written = read_notebook(tmp_path / "solutions" / "10_history.ipynb")
    assert written.metadata["kernelspec"]["name"] == "python3"
    assert written.cells[0].source.startswith("# 10 · Message history")
    assert ["setup"] in [cell_tags(cell) for cell in written.cells]
    problems = course_problems(load_course(tmp_path))
    # The shape is right; what only the author can write, and the link, are reported.
    assert not any("section" in line or "introduce" in line for line in problems), problems
    assert any("10_history.ipynb cell 1: replace the TODO(author)" in line for line in problems)
    assert (
        "09_demo.ipynb: its '## What comes next' must link the next notebook, (10_history.ipynb)"
    ) in problems
    (tmp_path / "README.md").write_text("| `09_demo` | echo | echo |\n")
    problems = course_problems(load_course(tmp_path))
    assert "README.md: the notebook table has no row for `10_history`" in problems
    assert not any("`09_demo`" in line for line in problems)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["10_History.ipynb", "--title", "x"], "named like '02_rooms.ipynb'"),
        (["09_again.ipynb", "--title", "x"], "number 09 is taken by solutions/09_demo.ipynb"),
        (["10_x.ipynb", "--title", "  "], "needs a title"),
    ],
)
def test_new_notebook_refuses_odd_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], problem: str
) -> None:
    make_course(tmp_path)
    done = roomkit_here(capsys, tmp_path, "new-notebook", *args)
    assert done.returncode == 2
    assert problem in done.stderr


def test_new_exercise_adds_every_cell_and_names_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_built_course(tmp_path)
    made = roomkit_here(capsys, tmp_path, "new-notebook", "10_more.ipynb", "--title", "More")
    assert made.returncode == 0
    done = roomkit(
        tmp_path,
        "new-exercise",
        "10.1",
        "--title",
        "Ping",
        "--notebook",
        "10_more.ipynb",
        "--defines",
        "register_ping",
        "--hint",
        "answer pong",
        "--points",
        "2.5",
    )
    assert done.returncode == 0, done.stderr
    for named in (
        "the exercise's prose",
        "tags 'exercise' and 'exercise-10.1'",
        "a try-it cell with prose before it",
        'await check("10.1")',
        "roomkit build",
        "roomkit check-course",
        "[exercises.hint_for]",
    ):
        assert named in done.stdout, named
    course = load_course(tmp_path)
    exercise = course.exercise("10.1")
    assert exercise.points == 2.5
    assert exercise.hint_for == (("test_first_behaviour", 1),)
    written = read_notebook(tmp_path / "solutions" / "10_more.ipynb")
    assert notebook_problems(written, "10_more.ipynb", (exercise,)) == []
    assert [
        line
        for line in exercise_cell_problems(written, "10_more.ipynb", (exercise,))
        if "TODO(author)" not in line
    ] == []
    sources = [cell.source for cell in written.cells]
    recap = next(index for index, text in enumerate(sources) if text.startswith("## Recap"))
    assert sources[recap - 1] == 'await check("10.1")'
    assert sources[recap - 6].startswith("## Exercise 10.1 · Ping")
    built = roomkit_here(capsys, tmp_path, "build")
    assert built.returncode == 0, built.stderr


@pytest.mark.parametrize(
    ("exercise_id", "title", "notebook_name", "problem"),
    [
        ("9.05", "Ping", "09_demo.ipynb", "exercise ids look like '2.3'"),
        ("09.5", "Ping", "09_demo.ipynb", "exercise ids look like '2.3'"),
        ("9.5", "!!!", "09_demo.ipynb", "has no letters or digits to name the test module by"),
        ("11.1", "Ping", "11_x.ipynb", "solutions/11_x.ipynb does not exist: create it first"),
    ],
)
def test_new_exercise_refuses_what_it_cannot_add(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    exercise_id: str,
    title: str,
    notebook_name: str,
    problem: str,
) -> None:
    make_course(tmp_path)
    manifest = (tmp_path / "solutions" / "exercises.toml").read_text()
    done = roomkit_here(
        capsys,
        tmp_path,
        "new-exercise",
        exercise_id,
        "--title",
        title,
        "--notebook",
        notebook_name,
        "--defines",
        "f",
        "--hint",
        "h",
    )
    assert done.returncode == 2
    assert problem in done.stderr
    assert (tmp_path / "solutions" / "exercises.toml").read_text() == manifest


def test_a_cell_with_half_the_exercise_tags_is_one_problem_not_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    course = make_course(tmp_path)
    half_tagged = notebook(code(SOLVED, "exercise-9.1"))
    problems = notebook_problems(half_tagged, "09_demo.ipynb", course.exercises)
    assert problems == [
        "09_demo.ipynb cell 1: an exercise cell needs both tags, 'exercise' and 'exercise-<id>'"
    ]
    nbformat.write(half_tagged, tmp_path / "solutions" / "09_demo.ipynb")
    built = roomkit_here(capsys, tmp_path, "build")
    assert built.returncode == 2
    assert "needs both tags" in built.stderr
    assert "do not define" not in built.stderr


def test_an_exercise_without_its_try_it_and_check_cells_is_reported(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    bare = notebook(code(SOLVED, "exercise", "exercise-9.1"))
    assert exercise_cell_problems(bare, "09_demo.ipynb", course.exercises) == [
        "09_demo.ipynb: exercise 9.1 has no try-it cell (a code cell after its exercise cell "
        "that uses register_echo)",
        '09_demo.ipynb: exercise 9.1 has no cell with await check("9.1") after its exercise cell',
    ]


def test_the_course_links_every_notebook_to_the_next() -> None:
    from course_builder import REPO

    course = load_course(REPO)
    notebooks = {
        path.name: nbformat.read(path, as_version=4)
        for path in sorted(course.solutions_dir.glob("*.ipynb"))
    }
    assert order_problems(course, notebooks) == []
