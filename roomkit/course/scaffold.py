"""``roomkit new-exercise`` and ``roomkit new-notebook``: add an exercise (its manifest
entry, a test module skeleton and its cells in the solution notebook) or a notebook in
the course's shape (cells: :mod:`roomkit.course.templates`)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from roomkit.course.manifest import Course, Exercise, load_course
from roomkit.course.templates import add_exercise_cells, notebook_skeleton, write_notebook
from roomkit.errors import RoomkitError

__all__ = ["SKELETON_TEST", "ScaffoldError", "new_exercise", "new_notebook", "tests_file_name"]

_PLAIN_ID = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
_NOTEBOOK_NAME = re.compile(r"^[0-9]{2}_[a-z0-9]+(_[a-z0-9]+)*\.ipynb$")

_HEADER = "[[exercises]]"
SKELETON_TEST = "test_first_behaviour"


class ScaffoldError(RoomkitError):
    """The exercise cannot be added as asked; the message says why."""


def tests_file_name(exercise_id: str, title: str) -> str:
    """``test_<major>_<minor>_<words of the title>.py``, e.g. ``test_1_2_teams_as_rooms.py``.

    :raises ScaffoldError: when the title has no letter or digit to name the module by.
    """
    words = re.findall(r"[a-z0-9]+", title.lower())
    slug = "_".join(words)[:40].rstrip("_")
    if not slug:
        raise ScaffoldError(
            f"the title {title!r} has no letters or digits to name the test module by"
        )
    return f"test_{exercise_id.replace('.', '_')}_{slug}.py"


def _toml_block(exercise: Exercise) -> str:
    def string(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string

    hints = "".join(f"    {string(hint)},\n" for hint in exercise.hints)
    defines = ", ".join(string(name) for name in exercise.defines)
    return (
        f"{_HEADER}\n"
        f"id = {string(exercise.id)}\n"
        f"title = {string(exercise.title)}\n"
        f"notebook = {string(exercise.notebook)}\n"
        f"defines = [{defines}]\n"
        f"hints = [\n{hints}]\n"
        f"tests = {string(exercise.tests)}\n"
        + (f"points = {exercise.points:g}\n" if exercise.points != 1 else "")
        + "\n[exercises.hint_for]\n"
        + "".join(f"{test} = {number}\n" for test, number in exercise.hint_for)
    )


def _test_skeleton(exercise: Exercise) -> str:
    first = exercise.defines[0]
    return f'''"""Exercise {exercise.id}: {exercise.title}."""

from __future__ import annotations

import socketio

from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import Stage
from roomkit.course.implementations import Implementation

EXERCISE = "{exercise.id}"


def install(implementation: Implementation, sio: socketio.AsyncServer) -> None:
    # Set up a fresh server with one implementation's code (the learner's, or the reference).
    implementation.{first}(sio)


async def {SKELETON_TEST}(impl: Implementation, reference: Implementation) -> None:
    """TODO: one line the learner reads, saying what this test checks"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("alice", "/")  # TODO: the namespace
        await stage.connect("bob", "/")
        await stage.call("alice", "TODO event", "TODO payload")

    await check_against_reference(impl, reference, install, scenario)
'''


def new_exercise(
    course: Course,
    exercise_id: str,
    *,
    title: str,
    notebook: str,
    defines: Sequence[str],
    hints: Sequence[str],
    points: float = 1.0,
) -> Exercise:
    """Add exercise ``exercise_id``: its manifest entry (in course order), its test
    skeleton, and its cells in the solution notebook, before the recap.

    :param course: the course.
    :param exercise_id: e.g. ``"2.3"``: two numbers without leading zeros.
    :param title: its title, with letters or digits to name the test module by.
    :param notebook: its notebook's file name, e.g. ``"02_rooms.ipynb"``; it must exist
        in ``solutions/`` (``roomkit new-notebook`` creates one).
    :param defines: the names the learner defines; the skeleton calls the first.
    :param hints: at least one hint; the skeleton's test is tied to the first.
    :param points: what the exercise is worth. Default 1.
    :raises ScaffoldError: when the id is odd or taken, the title names no module, the
        notebook does not exist, or the test module exists already.
    :raises roomkit.course.manifest.ManifestError: when the entry is invalid (the
        manifest is left as it was).
    """
    if not _PLAIN_ID.match(exercise_id):
        raise ScaffoldError(
            f"exercise ids look like '2.3' (notebook number, then position, no leading "
            f"zeros), not {exercise_id!r}"
        )
    if any(exercise.id == exercise_id for exercise in course.exercises):
        raise ScaffoldError(f"exercise {exercise_id} is already in the manifest")
    notebook_path = course.solutions_dir / notebook
    if not notebook_path.exists():
        raise ScaffoldError(
            f"solutions/{notebook} does not exist: create it first with "
            f'`roomkit new-notebook {notebook} --title "..."`'
        )
    exercise = Exercise(
        id=exercise_id,
        title=title,
        notebook=notebook,
        defines=tuple(defines),
        hints=tuple(hints),
        tests=tests_file_name(exercise_id, title),
        points=points,
        hint_for=((SKELETON_TEST, 1),),
    )
    test_path = course.test_path(exercise)
    if test_path.exists():
        raise ScaffoldError(f"{test_path} exists already")
    manifest = course.manifest_path
    original = manifest.read_text(encoding="utf-8")
    later = [other for other in course.exercises if other.sort_key > _key(exercise_id)]
    lines = original.splitlines(keepends=True)
    headers = [index for index, line in enumerate(lines) if line.strip() == _HEADER]
    block = _toml_block(exercise) + "\n"
    if later and len(headers) == len(course.exercises):
        # Insert before the first later exercise's table (and the comments just above it).
        at = headers[course.exercises.index(later[0])]
        while at > 0 and lines[at - 1].lstrip().startswith("#"):
            at -= 1
        text = "".join(lines[:at]) + block + "".join(lines[at:])
    else:
        text = original.rstrip("\n") + "\n\n" + block.rstrip("\n") + "\n"
    manifest.write_text(text, encoding="utf-8")
    try:
        load_course(course.root)
    except RoomkitError:
        manifest.write_text(original, encoding="utf-8")
        raise
    test_path.parent.mkdir(parents=True, exist_ok=True)
    test_path.write_text(_test_skeleton(exercise), encoding="utf-8")
    add_exercise_cells(notebook_path, exercise)
    return exercise


def new_notebook(course: Course, name: str, *, title: str) -> Path:
    """Write solution notebook ``name`` in the course's shape (see
    :func:`roomkit.course.templates.notebook_skeleton`).

    :param course: the course.
    :param name: ``NN_topic.ipynb``: two digits, then lower-case words joined by ``_``.
    :param title: its title, shown as ``# NN · <title>``.
    :returns: the notebook's path.
    :raises ScaffoldError: when the name is not of that form, the number is taken, or
        the title is empty.
    """
    if not _NOTEBOOK_NAME.match(name):
        raise ScaffoldError(
            f"notebooks are named like '02_rooms.ipynb' (two digits, lower-case words "
            f"joined by _), not {name!r}"
        )
    if not title.strip():
        raise ScaffoldError("the notebook needs a title")
    taken = [path.name for path in course.solutions_dir.glob(f"{name[:2]}_*.ipynb")]
    if taken:
        raise ScaffoldError(f"notebook number {name[:2]} is taken by solutions/{taken[0]}")
    path = course.solutions_dir / name
    write_notebook(path, notebook_skeleton(name, title.strip()))
    return path


def _key(exercise_id: str) -> tuple[int, int]:
    major, _, minor = exercise_id.partition(".")
    try:
        return int(major), int(minor)
    except ValueError:
        raise ScaffoldError(f"exercise ids look like '2.3', not {exercise_id!r}") from None
