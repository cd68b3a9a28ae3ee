"""``roomkit build``'s second half: record the reference into ``notebooks/.expected/``.

:func:`record` runs every public test of the chosen exercises against the live
reference with a :class:`~roomkit.course.recording.ReferenceRecorder` on the
reference side (the candidate is the reference too, so each scenario also runs
twice within a recording and must agree with itself). :func:`write_recordings`
writes one file per exercise; :func:`recording_problems` records twice more and
says which files are stale and which scenarios are not deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from roomkit.course.grading import run_harness
from roomkit.course.manifest import Course, Exercise
from roomkit.course.pytest_plugin import Harness
from roomkit.course.recording import RecordingError, read_recording, recording_path

__all__ = ["record", "recording_problems", "render_recording", "write_recordings"]


def record(course: Course, exercises: Iterable[Exercise] | None = None) -> dict[str, Any]:
    """What the reference observes in every public scenario, by exercise id.

    :param course: the course (with ``solutions/``).
    :param exercises: which exercises. Default: all of them.
    :raises RecordingError: when a public test does not pass on the reference, or
        the reference observes a scenario differently in its two runs (it is not
        deterministic), listing each.
    """
    exercises = list(course.exercises if exercises is None else exercises)
    harness = Harness(course, None, None, reference="record", hidden=False)
    results = run_harness(harness, exercises)
    problems = [
        f"exercise {result.exercise.id}: {message.splitlines()[0]}"
        for result in results
        for message in result.messages
    ]
    if problems:
        raise RecordingError(
            "these public tests fail on the reference, or the reference is not deterministic "
            "(its two runs of a scenario differ), so they cannot be recorded:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
        )
    recordings: dict[str, Any] = {}
    for exercise in exercises:
        recorders = harness.recorders.get(exercise.id, {})
        recordings[exercise.id] = {
            "exercise": exercise.id,
            "hidden": {
                "tests": harness.hidden_left_out.get(exercise.id, 0),
                "cover": exercise.hidden_cover,
            },
            "scenarios": {key: recorder.observations for key, recorder in recorders.items()},
        }
    return recordings


def render_recording(recording: Any) -> str:
    """The text of a recording file (stable: the same recording, the same bytes)."""
    return json.dumps(recording, indent=1, ensure_ascii=False) + "\n"


def write_recordings(course: Course, recordings: dict[str, Any]) -> list[str]:
    """Write each exercise's recording; remove recordings of exercises the course no
    longer has. Returns the paths written or removed, relative to the course."""
    changed = []
    course.expected_dir.mkdir(parents=True, exist_ok=True)
    for exercise in course.exercises:
        if exercise.id not in recordings:
            continue
        path = recording_path(course, exercise)
        text = render_recording(recordings[exercise.id])
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(str(path.relative_to(course.root)))
    known = {f"{exercise.id}.json" for exercise in course.exercises}
    for path in sorted(course.expected_dir.glob("*.json")):
        if path.name not in known:
            path.unlink()
            changed.append(f"{path.relative_to(course.root)} (removed)")
    return changed


def _differing(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    keys = dict.fromkeys([*first, *second])
    return [key for key in keys if first.get(key) != second.get(key)]


def recording_problems(course: Course) -> list[str]:
    """Record twice: each scenario whose two recordings differ is not deterministic,
    each file that differs from the recording is stale (or missing, or an orphan).

    :raises RecordingError: see :func:`record`.
    """
    first, second = record(course), record(course)
    problems: list[str] = []
    for exercise in course.exercises:
        path = recording_path(course, exercise).relative_to(course.root)
        unsteady = _differing(first[exercise.id]["scenarios"], second[exercise.id]["scenarios"])
        problems.extend(
            f"not deterministic: {key} observed differently in two runs of the reference"
            for key in unsteady
        )
        try:
            current = read_recording(course, exercise)
        except RecordingError as error:
            problems.append(f"stale: {error}")
            continue
        if current is None:
            problems.append(f"stale: {path} does not exist (run `roomkit build`)")
        elif not unsteady and current != json.loads(render_recording(first[exercise.id])):
            problems.append(f"stale: {path} is not what the reference observes now")
    known = {f"{exercise.id}.json" for exercise in course.exercises}
    problems.extend(
        f"orphan: {path.relative_to(course.root)} records no exercise of the course"
        for path in sorted(course.expected_dir.glob("*.json"))
        if path.name not in known
    )
    return problems
