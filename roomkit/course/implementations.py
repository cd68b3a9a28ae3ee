"""The code under test for one exercise: the reference, a notebook file, a folder, or a kernel.

An :class:`Implementation` holds the names an exercise defines (``defines`` in
``exercises.toml``). Exercise tests reach them as attributes, e.g.
``impl.register_namespaces``. When the code could not be loaded (the exercise is
not solved yet, its cell does not run, the notebook is missing), every attribute
access raises the same readable :class:`~roomkit.course.failures.ExerciseFailure`, so
each test of the exercise fails with that message.

Loading a notebook runs only what the exercise needs, in a fresh module: the
code cells tagged ``setup`` and the cells tagged ``exercise-<id>``, in notebook
order. Demo cells, which start servers, never run.
"""

from __future__ import annotations

import itertools
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roomkit.course.failures import ExerciseFailure, NotSolved, describe_exception, register_source
from roomkit.course.manifest import Course, Exercise
from roomkit.course.notebooks import (
    SETUP_TAG,
    cell_exercise_id,
    cell_source,
    cell_tags,
    read_cells,
)

__all__ = [
    "CellCode",
    "Implementation",
    "Source",
    "exercise_cells",
    "from_folder",
    "from_namespace",
    "from_notebook",
    "load",
    "notebook_of",
    "reference",
    "run_cells",
]

# What to test: a notebook file or a folder of notebooks (Path), the live names
# of a kernel (Mapping), or the reference (None).
Source = Path | Mapping[str, Any] | None

_module_numbers = itertools.count(1)
_reference_cache: dict[tuple[Path, int, str], Implementation] = {}


@dataclass
class Implementation:
    """One implementation of ``exercise``.

    :param label: where it comes from, for messages (e.g. ``"the reference"``).
    :param exercise: the exercise.
    :param names: the names it defines.
    :param problem: why it could not be loaded; raised on every attribute access.
        Default None.
    :param missing: what to say when a declared name is missing. Default: that
        the exercise cell must be run.
    """

    label: str
    exercise: Exercise
    names: dict[str, Any] = field(default_factory=dict)
    problem: ExerciseFailure | None = None
    missing: str = "run the exercise cell first"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in {"label", "exercise", "names", "problem", "missing"}:
            raise AttributeError(name)
        if self.problem is not None:
            # A fresh exception each time: re-raising one instance grows its traceback.
            raise type(self.problem)(str(self.problem))
        if name not in self.exercise.defines:
            raise AttributeError(
                f"exercise {self.exercise.id} does not declare {name!r} in exercises.toml "
                f"(it declares {', '.join(self.exercise.defines)})"
            )
        if name not in self.names:
            raise ExerciseFailure(f"{self.label} does not define {name} yet: {self.missing}")
        return self.names[name]


def from_namespace(
    namespace: Mapping[str, Any], exercise: Exercise, label: str = "your notebook"
) -> Implementation:
    """The exercise's names as found in ``namespace`` (e.g. a kernel's globals)."""
    names = {name: namespace[name] for name in exercise.defines if name in namespace}
    return Implementation(
        label,
        exercise,
        names,
        missing=f"run the cell of exercise {exercise.id}, then check again",
    )


@dataclass(frozen=True, slots=True)
class CellCode:
    """One code cell to run: its number in the notebook, a filename for tracebacks, its source.

    :param number: the cell's position in the notebook, from 1.
    :param filename: e.g. ``"<path/to/02_rooms.ipynb, cell 7>"``.
    :param source: the cell's code.
    """

    number: int
    filename: str
    source: str


def exercise_cells(
    path: Path, exercise: Exercise, label: str | None = None
) -> list[CellCode] | Implementation:
    """The ``setup`` cells and the exercise's cells of notebook ``path``, in notebook order.

    :param path: the notebook file.
    :param exercise: which exercise.
    :param label: for messages. Default: the path.
    :returns: the cells, or a failed :class:`Implementation` saying why there are none.
    """
    label = label or str(path)
    try:
        notebook_cells = read_cells(path)
    except FileNotFoundError:
        return _failed(label, exercise, f"{path} does not exist")
    except Exception as error:  # not JSON, not a notebook: say so, whatever it is
        return _failed(label, exercise, f"{path} cannot be read as a notebook: {error}")
    chosen = [
        (number, cell)
        for number, cell in enumerate(notebook_cells, start=1)
        if cell.get("cell_type") == "code"
        and (SETUP_TAG in cell_tags(cell) or cell_exercise_id(cell) == exercise.id)
    ]
    if not any(cell_exercise_id(cell) == exercise.id for _, cell in chosen):
        return _failed(
            label,
            exercise,
            f"{path.name} has no cell tagged '{exercise.tag}': keep the tags of the exercise "
            "cell (JupyterLab: the property inspector, gear icon on the right)",
        )
    # The full path keeps two notebooks of the same name apart in linecache.
    return [
        CellCode(number, f"<{path}, cell {number}>", cell_source(cell)) for number, cell in chosen
    ]


def run_cells(
    cells: list[CellCode], exercise: Exercise, label: str, notebook_name: str
) -> Implementation:
    """Run ``cells`` in a fresh module and keep the names the exercise defines.

    :param cells: from :func:`exercise_cells`.
    :param exercise: the exercise.
    :param label: for messages (e.g. the notebook's path).
    :param notebook_name: the notebook's file name, for messages.
    """
    module = types.ModuleType(f"roomkit_exercise_{next(_module_numbers)}")
    # Registered so that dataclasses and typing can find the module by name.
    sys.modules[module.__name__] = module
    for cell in cells:
        register_source(cell.filename, cell.source)
        where = f"cell {cell.number} of {notebook_name}"
        try:
            exec(compile(cell.source, cell.filename, "exec"), module.__dict__)
        except NotImplementedError as error:
            return _failed(label, exercise, f"not solved yet: {error}", NotSolved)
        except SyntaxError as error:
            return _failed(
                label, exercise, f"{where} does not compile: " + describe_exception(error)
            )
        except SystemExit as error:  # sys.exit() in a cell must not end the grading
            return _failed(
                label,
                exercise,
                f"exercise {exercise.id}: your code called sys.exit({error.code!r}) while "
                f"loading ({where}): remove it, a notebook cell must not exit",
            )
        except Exception as error:  # the learner's cell may raise anything
            return _failed(label, exercise, f"running {where} raised {describe_exception(error)}")
    return Implementation(
        label,
        exercise,
        {name: module.__dict__[name] for name in exercise.defines if name in module.__dict__},
        missing=f"its exercise cells (tag '{exercise.tag}') must define it",
    )


def from_notebook(path: Path, exercise: Exercise, label: str | None = None) -> Implementation:
    """Run the ``setup`` cells and the exercise's cells of notebook ``path`` in a fresh module.

    :param path: the notebook file.
    :param exercise: which exercise's cells to run.
    :param label: for messages. Default: the path.
    """
    label = label or str(path)
    cells = exercise_cells(path, exercise, label)
    if isinstance(cells, Implementation):
        return cells
    return run_cells(cells, exercise, label, path.name)


def notebook_of(source: Path, exercise: Exercise) -> Path | Implementation:
    """The notebook of ``exercise`` in submission ``source`` (a notebook file or a folder).

    :returns: its path, or a failed :class:`Implementation` saying why there is none.
    """
    if source.is_dir():
        path = source / exercise.notebook
        if not path.exists():
            return _failed(str(path), exercise, f"{source} has no {exercise.notebook}")
        return path
    if source.name != exercise.notebook:
        return _failed(str(source), exercise, f"exercise {exercise.id} is in {exercise.notebook}")
    return source


def from_folder(folder: Path, exercise: Exercise) -> Implementation:
    """The exercise as solved in ``folder/<its notebook>`` (a submission)."""
    path = notebook_of(folder, exercise)
    return path if isinstance(path, Implementation) else from_notebook(path, exercise)


def reference(course: Course, exercise: Exercise) -> Implementation:
    """The reference solution, from ``solutions/`` (cached until the file changes)."""
    path = course.solutions_dir / exercise.notebook
    key = (path, path.stat().st_mtime_ns if path.exists() else 0, exercise.id)
    cached = _reference_cache.get(key)
    if cached is None:
        cached = from_notebook(path, exercise, label="the reference")
        _reference_cache[key] = cached
    return cached


def load(source: Source, course: Course, exercise: Exercise) -> Implementation:
    """The implementation of ``exercise`` that ``source`` names (see :data:`Source`)."""
    if source is None:
        return reference(course, exercise)
    if isinstance(source, Path):
        path = notebook_of(source, exercise)
        return path if isinstance(path, Implementation) else from_notebook(path, exercise)
    return from_namespace(source, exercise)


def _failed(
    label: str,
    exercise: Exercise,
    message: str,
    kind: type[ExerciseFailure] = ExerciseFailure,
) -> Implementation:
    return Implementation(label, exercise, problem=kind(message))
