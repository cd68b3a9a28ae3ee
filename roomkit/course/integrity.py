"""Does every part of the course agree, and can every test fail? ``roomkit check-course``.

Each exercise in the manifest must have a solution region in its notebook, a
generated stub in ``notebooks/`` that is up to date, and a test module; and
nothing may be left over: no test module, learner notebook or stray file
without its counterpart. Each solution notebook also has the course's shape:
learning goals first, every code cell introduced by markdown, and a recap, the
source's questions and what comes next at the end (:func:`course_problems`).

:func:`unreliable_tests` runs the tests themselves (rustlings' ``dev check``): every
test must pass on the reference, without the reference's handlers raising, and
fail on the generated stub and on an empty implementation (every name the
exercise defines bound to a function that does nothing); a test that passes on
either checks nothing.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from roomkit.course.authoring import AuthoringError, build, notebook_problems, solution_notebooks
from roomkit.course.manifest import MANIFEST, Course, Exercise
from roomkit.course.notebooks import cell_exercise_id, cell_source, read_notebook
from roomkit.course.templates import PLACEHOLDER as SCAFFOLD_PLACEHOLDER

__all__ = [
    "course_problems",
    "empty_implementation",
    "exercise_cell_problems",
    "exercise_test_problems",
    "hint_tie_problems",
    "order_problems",
    "shape_problems",
    "unreliable_tests",
]

PLACEHOLDER = "TODO"
GOALS = "Learning goals"
CLOSING_SECTIONS = ("## Recap", "## Questions from the source", "## What comes next")


def shape_problems(notebook: Any, name: str) -> list[str]:
    """Where solution notebook ``name`` departs from the course's shape (docs/instructors.md)."""
    cells = notebook.cells
    problems = []
    if not cells or cells[0].cell_type != "markdown" or GOALS not in cell_source(cells[0]):
        problems.append(f"{name}: the first cell must be markdown with the {GOALS}")
    markdown = "\n".join(cell_source(cell) for cell in cells if cell.cell_type == "markdown")
    problems.extend(
        f"{name}: no '{section}' section" for section in CLOSING_SECTIONS if section not in markdown
    )
    for number, (before, cell) in enumerate(itertools.pairwise(cells), start=2):
        if cell.cell_type == "code" and before.cell_type != "markdown":
            problems.append(f"{name} cell {number}: introduce this code cell with some prose")
    return problems


def exercise_cell_problems(notebook: Any, name: str, exercises: Sequence[Exercise]) -> list[str]:
    """Where an exercise of solution notebook ``name`` lacks a cell docs/instructors.md asks
    for: after its exercise cells, a try-it cell that uses what it defines, then a cell
    with ``await check("<id>")``; and every placeholder the scaffolds left
    (:data:`roomkit.course.templates.PLACEHOLDER`)."""
    cells = notebook.cells
    problems = [
        f"{name} cell {number}: replace the {SCAFFOLD_PLACEHOLDER} the scaffold left"
        for number, cell in enumerate(cells, start=1)
        if SCAFFOLD_PLACEHOLDER in cell_source(cell)
    ]
    for exercise in exercises:
        own = [index for index, cell in enumerate(cells) if cell_exercise_id(cell) == exercise.id]
        if not own:
            continue  # notebook_problems says so
        after = [cell for cell in cells[own[-1] + 1 :] if cell.cell_type == "code"]
        checks = [
            index
            for index, cell in enumerate(after)
            if f'check("{exercise.id}")' in cell_source(cell)
        ]
        try_it = [
            cell
            for cell in after[: checks[0] if checks else len(after)]
            if any(re.search(rf"\b{defined}\b", cell_source(cell)) for defined in exercise.defines)
        ]
        if not try_it:
            problems.append(
                f"{name}: exercise {exercise.id} has no try-it cell (a code cell after its "
                f"exercise cell that uses {' or '.join(exercise.defines)})"
            )
        if not checks:
            problems.append(
                f'{name}: exercise {exercise.id} has no cell with await check("{exercise.id}") '
                "after its exercise cell"
            )
    return problems


def _what_comes_next(notebook: Any) -> str:
    markdown = "\n".join(
        cell_source(cell) for cell in notebook.cells if cell.cell_type == "markdown"
    )
    return markdown.partition(CLOSING_SECTIONS[-1])[2]


def order_problems(course: Course, notebooks: dict[str, Any]) -> list[str]:
    """Where the notebooks ``notebooks`` (file name -> notebook) are not linked in course
    order: each one's ``## What comes next`` must link the next notebook, and README.md
    (when the course has one) must list every notebook in its table."""
    names = sorted(notebooks)
    problems = [
        f"{before}: its '{CLOSING_SECTIONS[-1]}' must link the next notebook, ({after})"
        for before, after in itertools.pairwise(names)
        if f"]({after})" not in _what_comes_next(notebooks[before])
    ]
    readme = course.root / "README.md"
    if readme.exists():
        text = readme.read_text(encoding="utf-8")
        problems.extend(
            f"README.md: the notebook table has no row for `{Path(name).stem}`"
            for name in names
            if f"| `{Path(name).stem}` |" not in text
        )
    return problems


def _exercise_constant(module: ast.Module) -> object:
    for node in module.body:
        if (
            isinstance(node, ast.Assign)
            and any(
                isinstance(target, ast.Name) and target.id == "EXERCISE" for target in node.targets
            )
            and isinstance(node.value, ast.Constant)
        ):
            return node.value.value
    return None


def _test_names(module: ast.Module) -> list[str]:
    return [
        node.name
        for node in module.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test_")
    ]


def hint_tie_problems(exercise: Exercise, tests: Sequence[str], where: object) -> list[str]:
    """Where ``exercise``'s ``hint_for`` and its test functions ``tests`` disagree: a tie
    to a test that does not exist, or (once an exercise ties any) a test without one."""
    ties = dict(exercise.hint_for)
    problems = [
        f"exercise {exercise.id}: hint_for names {test}, which {where} does not define"
        for test in ties
        if test not in tests
    ]
    if ties:
        problems.extend(
            f"exercise {exercise.id}: {test} has no hint in hint_for (the hint a learner "
            "sees when it fails)"
            for test in tests
            if test not in ties
        )
    return problems


def exercise_test_problems(course: Course, exercise: Exercise) -> list[str]:
    """What is wrong with ``exercise``'s test module (empty when nothing)."""
    path = course.test_path(exercise)
    where = path.relative_to(course.root)
    if not path.exists():
        return [f"exercise {exercise.id}: its test module {where} does not exist"]
    text = path.read_text(encoding="utf-8")
    try:
        module = ast.parse(text)
    except SyntaxError as error:
        return [f"{where}: does not compile: {error.msg} (line {error.lineno})"]
    problems = []
    if _exercise_constant(module) != exercise.id:
        problems.append(f"{where}: must set EXERCISE = {exercise.id!r} at module level")
    tests = _test_names(module)
    if not tests:
        problems.append(f"{where}: has no test functions")
    problems.extend(hint_tie_problems(exercise, tests, where))
    if PLACEHOLDER in text:
        problems.append(f"{where}: still has {PLACEHOLDER} placeholders from the scaffold")
    return problems


def course_problems(course: Course) -> list[str]:
    """Everything inconsistent between the manifest, ``solutions/``, ``notebooks/`` and
    ``tests/exercises/``: one readable line per problem, empty when all agree."""
    problems: list[str] = []
    solutions = {path.name: path for path in solution_notebooks(course)}
    for listed in sorted({exercise.notebook for exercise in course.exercises}):
        if listed not in solutions:
            problems.append(f"{MANIFEST} names {listed}, which is not in solutions/")
    notebooks = {name: read_notebook(path) for name, path in solutions.items()}
    for name, notebook in notebooks.items():
        problems.extend(notebook_problems(notebook, name, course.in_notebook(name)))
        problems.extend(shape_problems(notebook, name))
        problems.extend(exercise_cell_problems(notebook, name, course.in_notebook(name)))
    problems.extend(order_problems(course, notebooks))
    allowed = {*solutions, MANIFEST.name}
    for path in sorted(course.solutions_dir.iterdir()):
        if path.name not in allowed and not path.name.startswith("."):
            problems.append(
                f"solutions/{path.name}: unexpected; solutions/ holds NN_topic.ipynb notebooks "
                f"and {MANIFEST.name}"
            )
    for exercise in course.exercises:
        problems.extend(exercise_test_problems(course, exercise))
    test_modules = {exercise.tests for exercise in course.exercises}
    test_modules |= {exercise.hidden_tests for exercise in course.exercises}
    for path in sorted(course.tests_dir.glob("test_*.py")):
        if path.name not in test_modules:
            problems.append(f"{path.relative_to(course.root)}: no exercise in {MANIFEST} names it")
    try:
        report = build(course, check=True)
    except AuthoringError:
        return problems  # the notebook problems above already say why
    problems.extend(f"{path}: out of date, run `roomkit build`" for path in report.stale)
    problems.extend(
        f"{path}: no solutions/ notebook generates it (remove it, or add its solution)"
        for path in report.orphans
    )
    return problems


def _does_nothing(*args: Any, **kwargs: Any) -> None:
    """What an empty implementation defines: accepts anything, does nothing."""


def empty_implementation(exercises: Sequence[Exercise]) -> dict[str, Callable[..., None]]:
    """Every name ``exercises`` define, bound to a function that does nothing."""
    return {name: _does_nothing for exercise in exercises for name in exercise.defines}


def unreliable_tests(course: Course, exercises: Sequence[Exercise] | None = None) -> list[str]:
    """Run each exercise's tests on the reference, the stubs in ``notebooks/`` and an
    empty implementation; one line per test that cannot tell them apart.

    :param course: the course.
    :param exercises: which exercises. Default: all of them.
    """
    from roomkit.course.grading import run_tests  # imports pytest

    chosen = list(course.exercises if exercises is None else exercises)
    problems: list[str] = []
    for result in run_tests(course, chosen, None):
        if result.problem:
            problems.append(f"exercise {result.exercise.id}: {result.problem}")
        problems.extend(
            f"{test.test_id} fails on the reference: {test.message.splitlines()[0]}"
            for test in result.results
            if not test.passed
        )
    for source, what in (
        (course.notebooks_dir, "the generated stub"),
        (empty_implementation(chosen), "an empty implementation"),
    ):
        for result in run_tests(course, chosen, source):
            problems.extend(
                f"{test.test_id} passes on {what}: it checks nothing"
                for test in result.results
                if test.passed
            )
    return problems
