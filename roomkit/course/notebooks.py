"""Notebook files as the course reads them: cells, their sources and their tags.

A course notebook marks cells with tags (``metadata.tags``): ``setup`` for the
imports and constants every exercise needs, ``exercise`` and ``exercise-<id>``
for an exercise's cell, ``raises-exception`` for a cell that raises in the
unsolved notebook. Everything that reads or writes a notebook goes through here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import nbformat

__all__ = [
    "EXERCISE_TAG",
    "RAISES_TAG",
    "SETUP_TAG",
    "cell_exercise_id",
    "cell_source",
    "cell_tags",
    "read_cells",
    "read_notebook",
    "render",
]

EXERCISE_TAG = "exercise"
SETUP_TAG = "setup"
RAISES_TAG = "raises-exception"


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read a notebook file as nbformat 4."""
    import nbformat  # a second and more to import: only where a notebook is rewritten

    notebook: nbformat.NotebookNode = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    return notebook


def read_cells(path: Path) -> list[dict[str, Any]]:
    """The cells of notebook file ``path``, read as plain JSON (nbformat 4 files).

    What loading a learner's code needs, without importing nbformat: that import
    alone would make a kernel's first ``await check`` more than a second slower.
    Other nbformat versions go through :func:`read_notebook`.

    :raises ValueError: when the file is not JSON (or not a notebook).
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("nbformat") != 4:
        return [dict(cell) for cell in read_notebook(path).cells]
    cells = data.get("cells")
    if not isinstance(cells, list) or not all(isinstance(cell, dict) for cell in cells):
        raise ValueError("its 'cells' is not a list of cells")
    return cells


def cell_source(cell: Any) -> str:
    """The cell's source as one string (notebook files may store a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def cell_tags(cell: Any) -> list[str]:
    """The cell's tags (``metadata.tags``), empty when it has none."""
    tags = cell.get("metadata", {}).get("tags", [])
    return [str(tag) for tag in tags] if isinstance(tags, list) else []


def cell_exercise_id(cell: Any) -> str | None:
    """The id in the cell's ``exercise-<id>`` tag (None when it has none)."""
    for tag in cell_tags(cell):
        if tag.startswith(EXERCISE_TAG + "-"):
            return tag[len(EXERCISE_TAG) + 1 :]
    return None


def render(notebook: Any) -> str:
    """The notebook as file text, formatted exactly as nbformat (and JupyterLab) write it."""
    import nbformat

    text: str = nbformat.writes(notebook, version=4)  # type: ignore[no-untyped-call]
    return text if text.endswith("\n") else text + "\n"
