"""The exercise manifest, ``solutions/exercises.toml``: which exercises exist, in course order.

Each ``[[exercises]]`` table describes one exercise::

    [[exercises]]
    id = "1.1"                          # <notebook number>.<position>
    title = "/chat and /admin on one server"
    notebook = "01_namespaces.ipynb"    # in solutions/ (and, generated, notebooks/)
    defines = ["register_namespaces"]   # the names the learner's exercise cell defines
    hints = ["...", "..."]              # the hints, numbered from 1
    tests = "test_1_1_chat_and_admin.py"  # in tests/exercises/
    points = 1                          # optional, default 1
    hidden_tests = "test_1_1_more.py"   # optional: a test module run only at grading
    hidden_cover = "..."                # optional: what the hidden tests cover, one line
    test_points = { test_x = 2 }        # optional: a test's share of points (default 1)
    hint_for = { test_admin_needs_the_token = 2 }  # optional: test function -> its hint

A failed check shows the hints tied to the failing tests (``hint_for``), one
more at each failed check; an exercise without ties reveals its hints in order.

The order of the tables is the course order. :func:`load_course` checks the
file's own consistency; :mod:`roomkit.course.integrity` checks it against the
notebooks and the test modules.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roomkit.errors import RoomkitError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "MANIFEST",
    "RELEASE_MANIFEST",
    "Course",
    "Exercise",
    "ManifestError",
    "UnknownExercise",
    "find_course_root",
    "load_course",
]

MANIFEST = Path("solutions") / "exercises.toml"
# A student release has no solutions/: its manifest sits at the course's root.
RELEASE_MANIFEST = Path("exercises.toml")

_ID = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")  # "3.5", never "3.05" or "03.5"
_NOTEBOOK = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")
_TESTS = re.compile(r"^test_[a-z0-9_]+\.py$")
_REQUIRED = {"id", "title", "notebook", "defines", "hints", "tests"}
_OPTIONAL = {"points", "hint_for", "hidden_tests", "hidden_cover", "test_points"}


class ManifestError(RoomkitError):
    """``exercises.toml`` is missing, unreadable or inconsistent; the message lists why."""


class UnknownExercise(RoomkitError, KeyError):
    """An exercise id that the manifest does not list."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class Exercise:
    """One exercise of the course.

    :param id: ``"<notebook number>.<position>"``, e.g. ``"1.1"``.
    :param title: a short title shown in reports.
    :param notebook: the notebook's file name, e.g. ``"01_namespaces.ipynb"``.
    :param defines: the names the learner's exercise cell defines (functions or classes).
    :param hints: hints, in the order they are revealed.
    :param tests: the test module's file name in ``tests/exercises/``.
    :param points: what the exercise is worth in a grade. Default 1.
    :param hint_for: ``(test function name, hint number)`` pairs: the hint (numbered
        from 1) that helps with a failure of that test. Default: none.
    :param hidden_tests: a test module in ``tests/exercises/`` whose tests all run only
        at grading, or ``""``. Default ``""``.
    :param hidden_cover: what the hidden tests cover, in one line for the learner.
        Default ``""``.
    :param test_points: ``(test function name, share)`` pairs: a test's share of
        ``points`` (tests not listed have share 1). Default: equal shares.
    """

    id: str
    title: str
    notebook: str
    defines: tuple[str, ...]
    hints: tuple[str, ...]
    tests: str
    points: float = 1.0
    hint_for: tuple[tuple[str, int], ...] = ()
    hidden_tests: str = ""
    hidden_cover: str = ""
    test_points: tuple[tuple[str, float], ...] = ()

    def hints_for(self, tests: Sequence[str]) -> list[str]:
        """The hints tied to ``tests`` (test function names), in the order of the
        tests, each once; tests without a tie add nothing."""
        ties = dict(self.hint_for)
        numbers = dict.fromkeys(ties[test] for test in tests if test in ties)
        return [self.hints[number - 1] for number in numbers]

    def test_share(self, test_name: str) -> float:
        """The share of ``points`` of test function ``test_name`` (1 unless listed)."""
        return dict(self.test_points).get(test_name, 1.0)

    @property
    def tag(self) -> str:
        """The cell tag that marks this exercise's cells: ``exercise-<id>``."""
        return f"exercise-{self.id}"

    @property
    def sort_key(self) -> tuple[int, int]:
        """``(notebook number, position)``, the course order."""
        match = _ID.match(self.id)
        assert match is not None  # load_course validated the id
        return int(match[1]), int(match[2])


@dataclass(frozen=True, slots=True)
class Course:
    """The course in directory ``root``: its manifest and where things live.

    :param root: the directory holding ``solutions/``, ``notebooks/`` and ``tests/``.
    :param exercises: the manifest's exercises, in course order.
    """

    root: Path
    exercises: tuple[Exercise, ...]

    @property
    def solutions_dir(self) -> Path:
        """``solutions/``: the instructor's notebooks and the manifest."""
        return self.root / "solutions"

    @property
    def notebooks_dir(self) -> Path:
        """``notebooks/``: the learners' notebooks, generated."""
        return self.root / "notebooks"

    @property
    def tests_dir(self) -> Path:
        """``tests/exercises/``: one test module per exercise."""
        return self.root / "tests" / "exercises"

    @property
    def manifest_path(self) -> Path:
        """``solutions/exercises.toml``, or a release's ``exercises.toml``."""
        return _manifest_in(self.root) or self.root / MANIFEST

    @property
    def expected_dir(self) -> Path:
        """``notebooks/.expected/``: what the reference's clients observed, per exercise."""
        return self.notebooks_dir / ".expected"

    def exercise(self, exercise_id: str) -> Exercise:
        """The exercise with id ``exercise_id``.

        :raises UnknownExercise: naming the ids that do exist.
        """
        for exercise in self.exercises:
            if exercise.id == exercise_id:
                return exercise
        known = ", ".join(exercise.id for exercise in self.exercises) or "none"
        raise UnknownExercise(f"no exercise {exercise_id!r} in the course (exercises: {known})")

    def in_notebook(self, notebook: str) -> tuple[Exercise, ...]:
        """The exercises of notebook file ``notebook``, in course order."""
        return tuple(exercise for exercise in self.exercises if exercise.notebook == notebook)

    def test_path(self, exercise: Exercise) -> Path:
        """Where ``exercise``'s test module is."""
        return self.tests_dir / exercise.tests

    def hidden_test_path(self, exercise: Exercise) -> Path | None:
        """Where ``exercise``'s hidden test module is, when it has one."""
        return self.tests_dir / exercise.hidden_tests if exercise.hidden_tests else None


def _manifest_in(directory: Path) -> Path | None:
    """The manifest of the course in ``directory``: ``solutions/exercises.toml``, else a
    release's ``exercises.toml``; None when neither exists."""
    for candidate in (MANIFEST, RELEASE_MANIFEST):
        if (directory / candidate).is_file():
            return directory / candidate
    return None


def find_course_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` that holds ``solutions/exercises.toml``
    (or, in a student release, ``exercises.toml``).

    :param start: where to look from. Default: the current directory, then (for
        kernels started elsewhere) the directory this package was installed from.
    :raises ManifestError: when there is none.
    """
    starts = [start] if start is not None else [Path.cwd(), Path(__file__).resolve().parent]
    for first in starts:
        first = first.resolve()
        for directory in (first, *first.parents):
            if _manifest_in(directory) is not None:
                return directory
    where = " or ".join(str(first) for first in starts)
    raise ManifestError(f"no {MANIFEST} found at or above {where}")


def load_course(root: Path | None = None) -> Course:
    """Read and check the manifest of the course in ``root``.

    :param root: the course directory. Default: :func:`find_course_root`.
    :raises ManifestError: listing every problem found in the file.
    """
    root = find_course_root() if root is None else root
    path = _manifest_in(root) or root / MANIFEST
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"{path} is not valid TOML: {error}") from None
    problems: list[str] = []
    unknown_top = sorted(set(document) - {"exercises"})
    if unknown_top:
        problems.append(f"unknown top-level keys {unknown_top} (only [[exercises]] tables)")
    tables = document.get("exercises", [])
    if not isinstance(tables, list):
        problems.append("'exercises' must be an array of tables: write [[exercises]]")
        tables = []
    exercises = []
    for position, table in enumerate(tables, start=1):
        exercise = _exercise(table, f"exercise #{position}", problems)
        if exercise is not None:
            exercises.append(exercise)
    _check_together(exercises, problems)
    if problems:
        raise ManifestError(f"{path}:\n" + "\n".join(f"  - {problem}" for problem in problems))
    return Course(root=root, exercises=tuple(exercises))


def _exercise(table: Any, where: str, problems: list[str]) -> Exercise | None:
    if not isinstance(table, dict):
        problems.append(f"{where}: must be a table")
        return None
    if isinstance(table.get("id"), str):
        where = f"exercise {table['id']}"
    missing = sorted(_REQUIRED - set(table))
    unknown = sorted(set(table) - _REQUIRED - _OPTIONAL)
    if missing:
        problems.append(f"{where}: missing {', '.join(missing)}")
    if unknown:
        problems.append(f"{where}: unknown keys {', '.join(unknown)}")
    if missing:
        return None
    found = len(problems)
    exercise_id, title, notebook, tests = (
        table["id"],
        table["title"],
        table["notebook"],
        table["tests"],
    )
    defines, hints, points = table["defines"], table["hints"], table.get("points", 1)
    id_match = _ID.match(exercise_id) if isinstance(exercise_id, str) else None
    notebook_match = _NOTEBOOK.match(notebook) if isinstance(notebook, str) else None
    if id_match is None:
        problems.append(f"{where}: id must look like '1.2' (no leading zeros), not {exercise_id!r}")
    if not isinstance(title, str) or not title.strip():
        problems.append(f"{where}: title must be a non-empty string")
    if notebook_match is None:
        problems.append(f"{where}: notebook must be named like '01_topic.ipynb', not {notebook!r}")
    elif id_match is not None and int(id_match[1]) != int(notebook_match[1]):
        problems.append(
            f"{where}: the id's first number must be the notebook's number ({notebook})"
        )
    if not _strings(defines) or not all(name.isidentifier() for name in defines):
        problems.append(f"{where}: defines must be a non-empty list of Python names")
    if not _strings(hints):
        problems.append(f"{where}: hints must be a non-empty list of strings")
    if not isinstance(tests, str) or not _TESTS.match(tests):
        problems.append(f"{where}: tests must be a file name like 'test_1_2_topic.py'")
    if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
        problems.append(f"{where}: points must be a positive number")
    hint_for = table.get("hint_for", {})
    if not isinstance(hint_for, dict) or not all(
        isinstance(test, str)
        and test.startswith("test_")
        and isinstance(number, int)
        and not isinstance(number, bool)
        and 1 <= number <= (len(hints) if isinstance(hints, list) else 0)
        for test, number in hint_for.items()
    ):
        problems.append(
            f"{where}: hint_for must map test function names to hint numbers (1 to the "
            "number of hints), e.g. hint_for = { test_admin_needs_the_token = 2 }"
        )
    hidden_tests, hidden_cover = table.get("hidden_tests", ""), table.get("hidden_cover", "")
    test_points = table.get("test_points", {})
    if not isinstance(hidden_tests, str) or (hidden_tests and not _TESTS.match(hidden_tests)):
        problems.append(f"{where}: hidden_tests must be a file name like 'test_1_2_more.py'")
    if not isinstance(hidden_cover, str) or "\n" in hidden_cover:
        problems.append(f"{where}: hidden_cover must be one line of text")
    if not isinstance(test_points, dict) or not all(
        isinstance(share, (int, float)) and not isinstance(share, bool) and share > 0
        for share in test_points.values()
    ):
        problems.append(f"{where}: test_points must map test names to positive numbers")
    if len(problems) > found:
        return None
    return Exercise(
        id=exercise_id,
        title=title,
        notebook=notebook,
        defines=tuple(defines),
        hints=tuple(hints),
        tests=tests,
        points=float(points),
        hint_for=tuple(sorted(hint_for.items())),
        hidden_tests=hidden_tests,
        hidden_cover=hidden_cover,
        test_points=tuple((name, float(share)) for name, share in test_points.items()),
    )


def _strings(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, str) and item.strip() for item in value)
    )


def _check_together(exercises: list[Exercise], problems: list[str]) -> None:
    seen: set[str] = set()
    for exercise in exercises:
        for field_name in ("id", "tests", "hidden_tests"):
            value = getattr(exercise, field_name)
            if value and value in seen:
                problems.append(f"{field_name} {value!r} is used by more than one exercise")
            seen.add(value)
    for before, after in itertools.pairwise(exercises):
        if after.sort_key <= before.sort_key:
            problems.append(
                f"exercise {after.id} comes after {before.id}: list exercises in course order"
            )
