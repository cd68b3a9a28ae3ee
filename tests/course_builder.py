"""Throwaway courses for the authoring, integrity and grading tests.

:func:`make_course` writes a one-exercise course (exercise 9.1, ``register_echo``)
into a directory: manifest, solution notebook, the real ``tests/exercises/conftest.py``
and a test module; :func:`build` then generates its ``notebooks/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from roomkit.course.authoring import build
from roomkit.course.manifest import Course, load_course

REPO = Path(__file__).resolve().parent.parent

MANIFEST = """\
[[exercises]]
id = "9.1"
title = "Echo"
notebook = "09_demo.ipynb"
defines = ["register_echo"]
hints = ["Return the text from the handler."]
tests = "test_9_1_echo.py"
"""

SETUP = "import socketio\n\nPREFIX = ''"

SOLVED = '''def register_echo(sio: socketio.AsyncServer) -> None:
    """Answer "echo" with the text it carried."""
    ### BEGIN SOLUTION
    @sio.on("echo")
    async def echo(sid: str, text: str) -> str:
        return PREFIX + text
    ### END SOLUTION'''

DEMO = """sio = socketio.AsyncServer(async_mode="aiohttp")
register_echo(sio)"""

TESTS = '''"""Exercise 9.1: echo."""

from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import Stage

EXERCISE = "9.1"


def install(implementation, sio):
    implementation.register_echo(sio)


async def test_echo_answers_with_the_text(impl, reference):
    """echo answers with the text"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("ann")
        await stage.call("ann", "echo", "hi")

    await check_against_reference(impl, reference, install, scenario)
'''


def code(source: str, *tags: str, **fields: Any) -> nbformat.NotebookNode:
    cell = new_code_cell(source, **fields)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for number, cell in enumerate(cells, start=1):
        cell["id"] = f"cell-{number}"
    return new_notebook(
        cells=list(cells),
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )


def solution_notebook(exercise_source: str = SOLVED) -> nbformat.NotebookNode:
    """A solution notebook in the course's shape, with exercise 9.1."""
    return notebook(
        new_markdown_cell("# 09 · Demo\n\n**Learning goals.** Echo."),
        code(SETUP, "setup"),
        new_markdown_cell("## Exercise 9.1 · Echo"),
        code(exercise_source, "exercise", "exercise-9.1"),
        new_markdown_cell("Try it:"),
        code(DEMO),
        new_markdown_cell("Check it:"),
        code('await check("9.1")'),
        new_markdown_cell("## Recap\n\n## Questions from the source\n\n## What comes next"),
    )


def make_course(root: Path, *, tests: str = TESTS) -> Course:
    """Write the one-exercise course into ``root`` and return it (notebooks/ not built)."""
    (root / "solutions").mkdir(parents=True)
    (root / "tests" / "exercises").mkdir(parents=True)
    (root / "solutions" / "exercises.toml").write_text(MANIFEST)
    nbformat.write(solution_notebook(), root / "solutions" / "09_demo.ipynb")
    shutil.copy(REPO / "tests" / "exercises" / "conftest.py", root / "tests" / "exercises")
    (root / "tests" / "exercises" / "test_9_1_echo.py").write_text(tests)
    return load_course(root)


def make_built_course(root: Path, *, tests: str = TESTS) -> Course:
    """:func:`make_course`, then ``roomkit build``."""
    course = make_course(root, tests=tests)
    build(course)
    return course
