"""The cells ``roomkit new-notebook`` and ``roomkit new-exercise`` write into ``solutions/``.

A new notebook gets the course's shape (docs/instructors.md): a title with its
learning goals, the ``setup`` cell introduced by prose, then ``## Recap``,
``## Questions from the source`` and ``## What comes next``, and the kernelspec.
A new exercise gets, before the recap, every cell an exercise needs: its spec in
prose, the exercise cell with its solution region, a try-it cell and the check
cell, each introduced by prose. What only the author can write is marked
:data:`PLACEHOLDER`, which ``roomkit check-course`` reports until it is gone.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbformat import v4

from roomkit.course.manifest import Exercise
from roomkit.course.notebooks import EXERCISE_TAG, SETUP_TAG, cell_source, read_notebook, render

__all__ = [
    "KERNELSPEC",
    "PLACEHOLDER",
    "add_exercise_cells",
    "exercise_cell",
    "notebook_skeleton",
    "write_notebook",
]

PLACEHOLDER = "TODO(author)"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
_RECAP = "## Recap"

SETUP_SOURCE = """import socketio

from roomkit.check import check
from roomkit.testing import connect, serve, transcript"""


def new_markdown_cell(text: str) -> nbformat.NotebookNode:
    """A markdown cell holding ``text``."""
    cell: nbformat.NotebookNode = v4.new_markdown_cell(text)  # type: ignore[no-untyped-call]
    return cell


def new_code_cell(text: str, tags: list[str] | None = None) -> nbformat.NotebookNode:
    """A code cell holding ``text``, tagged ``tags`` (none by default)."""
    metadata = {"tags": tags} if tags else {}
    cell: nbformat.NotebookNode = v4.new_code_cell(text, metadata=metadata)  # type: ignore[no-untyped-call]
    return cell


def notebook_skeleton(name: str, title: str) -> nbformat.NotebookNode:
    """A solution notebook ``name`` (``NN_topic.ipynb``) titled ``title``, in the course's
    shape, with :data:`PLACEHOLDER` where the author writes."""
    number = name[:2]
    cells = [
        new_markdown_cell(
            f"# {number} · {title}\n\n{PLACEHOLDER}: what this notebook is about, in two or "
            f"three sentences.\n\n**Learning goals.** After this notebook you can:\n\n"
            f"- {PLACEHOLDER}: one goal per line"
        ),
        new_markdown_cell(
            "## Setup\n\nThe setup cell imports what every cell below uses; the grader runs it "
            "before each exercise's cells. Plain Python only: no `await`, no servers."
        ),
        new_code_cell(SETUP_SOURCE, [SETUP_TAG]),
        new_markdown_cell(f"{_RECAP}\n\n- {PLACEHOLDER}: what to remember, one point a line"),
        new_markdown_cell(
            f"## Questions from the source\n\n{PLACEHOLDER}: the questions of the source that "
            "fit this notebook, answered in your own words."
        ),
        new_markdown_cell(
            f"## What comes next\n\n{PLACEHOLDER}: the next notebook, as a link "
            "(`[NN · Title](NN_topic.ipynb)`) and one sentence, or the course's end."
        ),
    ]
    notebook: nbformat.NotebookNode = v4.new_notebook(  # type: ignore[no-untyped-call]
        cells=cells,
        metadata={"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}},
    )
    return notebook


def exercise_cell(exercise: Exercise) -> str:
    """The exercise cell's code: each name of ``defines`` with an empty solution region."""
    functions = [
        f"def {name}(sio: socketio.AsyncServer) -> None:\n"
        f'    """{PLACEHOLDER}: what the learner writes, and each parameter."""\n'
        "    ### BEGIN SOLUTION\n"
        "    ...\n"
        "    ### END SOLUTION\n"
        for name in exercise.defines
    ]
    return "\n\n".join(functions)


def _exercise_cells(exercise: Exercise) -> list[nbformat.NotebookNode]:
    first = exercise.defines[0]
    return [
        new_markdown_cell(
            f"## Exercise {exercise.id} · {exercise.title}\n\n{PLACEHOLDER}: the precise spec: "
            "the events, their payloads, the answers, and what is refused."
        ),
        new_code_cell(
            exercise_cell(exercise).rstrip("\n"),
            [EXERCISE_TAG, exercise.tag],
        ),
        new_markdown_cell(f"Try it: {PLACEHOLDER}: what the next cell shows."),
        new_code_cell(
            f'sio = socketio.AsyncServer(async_mode="aiohttp")\n{first}(sio)\n'
            f"# {PLACEHOLDER}: serve it, connect clients, print their transcript"
        ),
        new_markdown_cell(
            "Check it: the tests run your function and the reference through the same scenarios."
        ),
        new_code_cell(f'await check("{exercise.id}")'),
    ]


def add_exercise_cells(path: Path, exercise: Exercise) -> None:
    """Insert ``exercise``'s cells into solution notebook ``path``, just before its
    recap (at the end when it has none)."""
    notebook = read_notebook(path)
    cells = list(notebook.cells)
    at = next(
        (
            index
            for index, cell in enumerate(cells)
            if cell.cell_type == "markdown" and re.match(rf"{_RECAP}\b", cell_source(cell))
        ),
        len(cells),
    )
    notebook.cells = cells[:at] + _exercise_cells(exercise) + cells[at:]
    write_notebook(path, notebook)


def write_notebook(path: Path, notebook: nbformat.NotebookNode) -> None:
    """Write ``notebook`` to ``path`` as nbformat (and JupyterLab) would."""
    path.write_text(render(notebook), encoding="utf-8")
