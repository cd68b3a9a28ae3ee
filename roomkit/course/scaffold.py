"""``roomkit new-exercise``: add an exercise's manifest entry and a test module skeleton."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from roomkit.course.manifest import Course, Exercise, load_course
from roomkit.errors import RoomkitError

__all__ = ["ScaffoldError", "exercise_cell", "new_exercise", "tests_file_name"]

_HEADER = "[[exercises]]"


class ScaffoldError(RoomkitError):
    """The exercise cannot be added as asked; the message says why."""


def tests_file_name(exercise_id: str, title: str) -> str:
    """``test_<major>_<minor>_<words of the title>.py``, e.g. ``test_1_2_teams_as_rooms.py``."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    slug = "_".join(words)[:40].rstrip("_") or "exercise"
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


async def test_first_behaviour(impl: Implementation, reference: Implementation) -> None:
    """TODO: one line the learner reads, saying what this test checks"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("alice", "/")  # TODO: the namespace
        await stage.connect("bob", "/")
        await stage.call("alice", "TODO event", "TODO payload")

    await check_against_reference(impl, reference, install, scenario)
'''


def exercise_cell(exercise: Exercise) -> str:
    """The code to paste into the solution notebook's new exercise cell."""
    return (
        f"def {exercise.defines[0]}(sio: socketio.AsyncServer) -> None:\n"
        f'    """TODO: what the learner writes, and each parameter."""\n'
        "    ### BEGIN SOLUTION\n"
        "    ...\n"
        "    ### END SOLUTION\n"
    )


def new_exercise(
    course: Course,
    exercise_id: str,
    *,
    title: str,
    notebook: str,
    defines: Sequence[str],
    hints: Sequence[str],
) -> Exercise:
    """Add exercise ``exercise_id`` to the manifest, in course order, and write its test skeleton.

    :param course: the course.
    :param exercise_id: e.g. ``"2.3"``.
    :param title: its title.
    :param notebook: its notebook's file name, e.g. ``"02_rooms.ipynb"``.
    :param defines: the names the learner defines; the skeleton calls the first.
    :param hints: at least one hint.
    :raises ScaffoldError: when the id or the test module exists already.
    :raises roomkit.course.manifest.ManifestError: when the entry is invalid (the
        manifest is left as it was).
    """
    if any(exercise.id == exercise_id for exercise in course.exercises):
        raise ScaffoldError(f"exercise {exercise_id} is already in the manifest")
    exercise = Exercise(
        id=exercise_id,
        title=title,
        notebook=notebook,
        defines=tuple(defines),
        hints=tuple(hints),
        tests=tests_file_name(exercise_id, title),
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
    return exercise


def _key(exercise_id: str) -> tuple[int, int]:
    major, _, minor = exercise_id.partition(".")
    try:
        return int(major), int(minor)
    except ValueError:
        raise ScaffoldError(f"exercise ids look like '2.3', not {exercise_id!r}") from None
