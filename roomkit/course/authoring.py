"""From the instructor's notebooks to the learner's: ``solutions/`` in, ``notebooks/`` out.

A solution notebook marks each exercise with two cell tags, ``exercise`` and
``exercise-<id>`` (e.g. ``exercise-1.1``), and the learner's part of the cell
between two lines (the nbgrader convention)::

    def register_namespaces(sio: socketio.AsyncServer, admin_token: str) -> None:
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

:func:`make_stub` replaces every such region with a ``# TODO`` line and a
``raise NotImplementedError(...)`` naming the exercise, drops outputs,
execution counts and every cell metadata key but ``tags``, and tags with
``raises-exception`` the cells that will raise in the unsolved notebook (the
ones that use a name an exercise defines), so the learner's notebook still
runs under nbval. :func:`build` writes ``notebooks/``; the output is a pure
function of ``solutions/``, byte for byte.
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from roomkit.course.manifest import Course, Exercise
from roomkit.course.notebooks import (
    EXERCISE_TAG,
    RAISES_TAG,
    SETUP_TAG,
    cell_exercise_id,
    cell_source,
    cell_tags,
    read_notebook,
    render,
)
from roomkit.errors import RoomkitError

__all__ = [
    "BEGIN_SOLUTION",
    "END_SOLUTION",
    "AuthoringError",
    "BuildReport",
    "build",
    "make_stub",
    "notebook_problems",
    "solution_notebooks",
    "stub_text",
]

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"

_NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
_KEPT_NOTEBOOK_METADATA = ("kernelspec",)


class AuthoringError(RoomkitError):
    """A solution notebook does not follow the exercise format; the message lists why."""


@dataclass(frozen=True, slots=True)
class _Region:
    begin: int  # index of the BEGIN line
    end: int  # index of the END line
    indent: str


def _regions(source: str) -> list[_Region]:
    """The solution regions of ``source``.

    :raises AuthoringError: when the markers do not pair up.
    """
    regions: list[_Region] = []
    begin: int | None = None
    indent = ""
    for number, line in enumerate(source.splitlines()):
        marker = line.strip()
        if marker == BEGIN_SOLUTION:
            if begin is not None:
                raise AuthoringError(f"line {number + 1}: {BEGIN_SOLUTION} inside another region")
            begin, indent = number, line[: len(line) - len(line.lstrip())]
        elif marker == END_SOLUTION:
            if begin is None:
                raise AuthoringError(f"line {number + 1}: {END_SOLUTION} without {BEGIN_SOLUTION}")
            regions.append(_Region(begin, number, indent))
            begin = None
    if begin is not None:
        raise AuthoringError(f"line {begin + 1}: {BEGIN_SOLUTION} is never ended")
    return regions


def _stub_source(source: str, exercise: Exercise) -> str:
    lines = source.splitlines()
    out: list[str] = []
    position = 0
    for region in _regions(source):
        out.extend(lines[position : region.begin])
        out.append(f"{region.indent}# TODO: your code for exercise {exercise.id} goes here.")
        out.append(
            f"{region.indent}raise NotImplementedError("
            f"{f'exercise {exercise.id} ({exercise.title})'!r})"
        )
        position = region.end + 1
    out.extend(lines[position:])
    return "\n".join(out)


def _uses_any(source: str, names: set[str]) -> bool:
    return any(re.search(rf"(?<![\w.]){re.escape(name)}\b", source) for name in names)


def _parses(source: str, where: str, problems: list[str]) -> ast.Module | None:
    try:
        compile(source, where, "exec", dont_inherit=True)  # ast.parse allows a top-level await
        return ast.parse(source)
    except SyntaxError as error:
        problems.append(
            f"{where} must be plain Python (no top-level await, no %magics): "
            f"{error.msg} (line {error.lineno})"
        )
        return None


def _top_level_names(module: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in module.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(target.id for target in targets if isinstance(target, ast.Name))
    return names


def notebook_problems(notebook: Any, name: str, exercises: tuple[Exercise, ...]) -> list[str]:
    """What is wrong with solution notebook ``name`` given its manifest ``exercises``.

    :param notebook: the notebook, as read by :func:`read_notebook`.
    :param name: its file name, for the messages.
    :param exercises: the manifest's exercises of this notebook.
    :returns: one readable line per problem; empty when the notebook is fine.
    """
    problems: list[str] = []
    known = {exercise.id: exercise for exercise in exercises}
    defined: dict[str, set[str]] = {exercise.id: set() for exercise in exercises}
    # Exercises with a cell already reported: what it defines is unknown, so saying
    # that it defines nothing would be a second, wrong, error.
    reported: set[str] = set()
    for index, cell in enumerate(notebook.cells):
        where = f"{name} cell {index + 1}"
        tags = cell_tags(cell)
        source = cell_source(cell)
        exercise_id = cell_exercise_id(cell)
        has_markers = BEGIN_SOLUTION in source or END_SOLUTION in source
        if cell.cell_type != "code":
            if EXERCISE_TAG in tags or SETUP_TAG in tags or exercise_id is not None:
                problems.append(f"{where}: only code cells may be tagged exercise or setup")
            continue
        if (EXERCISE_TAG in tags) != (exercise_id is not None):
            problems.append(
                f"{where}: an exercise cell needs both tags, '{EXERCISE_TAG}' and "
                f"'{EXERCISE_TAG}-<id>'"
            )
            if exercise_id is not None:
                reported.add(exercise_id)
            continue
        if sum(tag.startswith(EXERCISE_TAG + "-") for tag in tags) > 1:
            problems.append(f"{where}: more than one '{EXERCISE_TAG}-<id>' tag")
        if exercise_id is None:
            if has_markers:
                problems.append(f"{where}: solution markers outside an exercise cell")
            if SETUP_TAG in tags:
                _parses(source, f"{where} (setup)", problems)
            continue
        if SETUP_TAG in tags:
            problems.append(f"{where}: a cell is either setup or an exercise, not both")
        if exercise_id not in known:
            problems.append(
                f"{where}: exercise {exercise_id!r} is not listed for {name} in exercises.toml"
            )
            continue
        try:
            if not _regions(source):
                problems.append(f"{where}: exercise cell without {BEGIN_SOLUTION} region")
        except AuthoringError as error:
            problems.append(f"{where}: {error}")
        module = _parses(source, f"{where} (exercise {exercise_id})", problems)
        if module is None:
            reported.add(exercise_id)
        else:
            defined[exercise_id] |= _top_level_names(module)
    for exercise_id, names in defined.items():
        exercise = known[exercise_id]
        if exercise_id in reported:
            continue
        if not any(cell_exercise_id(cell) == exercise_id for cell in notebook.cells):
            problems.append(f"{name}: no cell tagged '{exercise.tag}' (exercise {exercise_id})")
            continue
        missing = [wanted for wanted in exercise.defines if wanted not in names]
        if missing:
            problems.append(
                f"{name}: the cells of exercise {exercise_id} do not define {', '.join(missing)} "
                "at top level (exercises.toml says they do)"
            )
    return problems


def make_stub(notebook: Any, name: str, exercises: tuple[Exercise, ...]) -> nbformat.NotebookNode:
    """The learner's version of solution notebook ``name``.

    :param notebook: the solution notebook, as read by :func:`read_notebook`.
    :param name: its file name, for messages and cell ids.
    :param exercises: the manifest's exercises of this notebook.
    :raises AuthoringError: when :func:`notebook_problems` finds anything.
    """
    problems = notebook_problems(notebook, name, exercises)
    if problems:
        raise AuthoringError("\n".join(problems))
    known = {exercise.id: exercise for exercise in exercises}
    learner_names = {defined for exercise in exercises for defined in exercise.defines}
    cells = []
    for index, cell in enumerate(notebook.cells):
        source = cell_source(cell)
        tags = cell_tags(cell)
        exercise_id = cell_exercise_id(cell)
        stub: dict[str, Any] = {
            "cell_type": cell.cell_type,
            "id": str(cell.get("id") or f"{Path(name).stem}-{index}"),
            "metadata": {},
            "source": source,
        }
        if cell.cell_type == "code":
            if exercise_id is not None:
                source = _stub_source(source, known[exercise_id])
                top_level = any(region.indent == "" for region in _regions(cell_source(cell)))
                raises = top_level
            else:
                raises = _uses_any(source, learner_names)
            if raises and RAISES_TAG not in tags:
                tags = [*tags, RAISES_TAG]
            stub.update(source=source, execution_count=None, outputs=[])
        elif "attachments" in cell:
            stub["attachments"] = copy.deepcopy(cell["attachments"])
        if tags:
            stub["metadata"]["tags"] = tags
        cells.append(stub)
    metadata = {
        key: copy.deepcopy(notebook.metadata[key])
        for key in _KEPT_NOTEBOOK_METADATA
        if key in notebook.metadata
    }
    metadata["language_info"] = {"name": "python"}
    result: nbformat.NotebookNode = nbformat.from_dict(  # type: ignore[no-untyped-call]
        {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}
    )
    return result


def stub_text(course: Course, solution: Path) -> str:
    """The text of the learner's notebook generated from ``solution``."""
    return render(
        make_stub(read_notebook(solution), solution.name, course.in_notebook(solution.name))
    )


def solution_notebooks(course: Course) -> list[Path]:
    """The course's solution notebooks (``solutions/NN_*.ipynb``), in order."""
    return sorted(course.solutions_dir.glob(_NOTEBOOK_GLOB))


def _shows_learner_work(path: Path) -> bool:
    try:
        notebook = read_notebook(path)
    except Exception:  # an unreadable file is not something to protect
        return False
    return any(
        cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count"))
        for cell in notebook.cells
    )


@dataclass
class BuildReport:
    """What :func:`build` did or, with ``check``, would do (paths relative to the course).

    :attr written: notebooks written.
    :attr unchanged: notebooks already up to date.
    :attr stale: notebooks missing or out of date (``check`` only).
    :attr refused: notebooks not overwritten because they hold outputs (a learner's work).
    :attr orphans: notebooks in ``notebooks/`` that no solution generates.
    """

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing stale, refused or orphaned."""
        return not (self.stale or self.refused or self.orphans)


def build(course: Course, *, check: bool = False, force: bool = False) -> BuildReport:
    """Generate ``notebooks/`` from ``solutions/``.

    :param course: the course.
    :param check: only compare; write nothing. Default False.
    :param force: overwrite notebooks that hold outputs too. Default False: they
        are listed in ``refused``, since outputs mean someone worked in them.
    :raises AuthoringError: naming the solution notebook that is malformed.
    """
    report = BuildReport()
    expected: set[str] = set()
    for solution in solution_notebooks(course):
        try:
            text = stub_text(course, solution)
        except AuthoringError as error:
            raise AuthoringError(f"{solution}:\n{error}") from None
        target = course.notebooks_dir / solution.name
        relative = str(target.relative_to(course.root))
        expected.add(solution.name)
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            report.unchanged.append(relative)
        elif check:
            report.stale.append(relative)
        elif current is not None and not force and _shows_learner_work(target):
            report.refused.append(relative)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            report.written.append(relative)
    if course.notebooks_dir.is_dir():
        report.orphans = [
            str(path.relative_to(course.root))
            for path in sorted(course.notebooks_dir.glob("*.ipynb"))
            if path.name not in expected
        ]
    return report
