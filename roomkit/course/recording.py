"""The recorded reference: what the reference's clients observed, kept next to the notebooks.

``roomkit build`` runs every public scenario of every exercise against the
reference and writes what each client observed, normalised as
:mod:`roomkit.course.compare` normalises it, to ``notebooks/.expected/<id>.json``.
``await check`` then compares the learner's live server with the recording, so
a learner's machine needs no ``solutions/``. One file per exercise::

    {"exercise": "2.1",
     "hidden": {"tests": 2, "cover": "..."},       # counted, never recorded
     "scenarios": {"test_2_1_join_and_leave.py::test_x": [<observed>, ...]}}

A test may run several scenarios: they are kept in the order it runs them.
The reference side of a test is one of three things (:data:`Reference`): the live
reference, a :class:`RecordedReference` replaying the file, or a
:class:`ReferenceRecorder` that runs the live reference and keeps what it observed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from roomkit.course.compare import Observed
from roomkit.course.failures import BrokenTest
from roomkit.course.implementations import Implementation
from roomkit.course.manifest import Course, Exercise
from roomkit.course.scenario import NO_ANSWER
from roomkit.errors import RoomkitError

__all__ = [
    "RecordedReference",
    "RecordingError",
    "Reference",
    "ReferenceRecorder",
    "ReferenceSource",
    "check_source",
    "decode_observed",
    "encode_observed",
    "hidden_count",
    "read_recording",
    "recording_path",
    "scenario_key",
]

# Where a test's reference side comes from: run live from solutions/, replayed from
# notebooks/.expected/, or run live and recorded (``roomkit build``).
ReferenceSource = Literal["live", "recorded", "record"]

_NO_ANSWER_JSON = {"$roomkit": "no answer"}


class RecordingError(RoomkitError):
    """A recording cannot be made, read, or is stale; the message says which and why."""


def scenario_key(module: str, test: str) -> str:
    """The key of one test's scenarios in a recording: ``<module file>::<test name>``."""
    return f"{module}::{test}"


def _encode(value: Any) -> Any:
    if value is NO_ANSWER:
        return _NO_ANSWER_JSON
    if isinstance(value, dict):
        return {str(key): _encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise RecordingError(f"cannot record a {type(value).__name__} ({value!r}) as JSON")


def _decode(value: Any) -> Any:
    if value == _NO_ANSWER_JSON:
        return NO_ANSWER
    if isinstance(value, dict):
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def encode_observed(observed: Observed) -> dict[str, Any]:
    """``observed`` as JSON data (a reference whose handlers raised is never recorded).

    :raises RecordingError: when it holds handler errors or a value JSON cannot hold.
    """
    if observed.errors:
        raise RecordingError(f"the reference's server, {observed.errors[0].describe()}")
    return {
        "order": observed.order,
        "namespaces": observed.namespaces,
        "refusals": observed.refusals,
        "received": {name: _encode(items) for name, items in observed.received.items()},
        "answers": {name: _encode(items) for name, items in observed.answers.items()},
        "steps": observed.steps,
    }


def decode_observed(data: dict[str, Any]) -> Observed:
    """The :class:`Observed` that :func:`encode_observed` wrote (pairs back as tuples)."""
    return Observed(
        order=list(data["order"]),
        namespaces=dict(data["namespaces"]),
        refusals=dict(data["refusals"]),
        received={
            name: [(event, _decode(args)) for event, args in items]
            for name, items in data["received"].items()
        },
        answers={
            name: [(what, _decode(answer)) for what, answer in items]
            for name, items in data["answers"].items()
        },
        steps=list(data["steps"]),
    )


def recording_path(course: Course, exercise: Exercise) -> Path:
    """``notebooks/.expected/<id>.json``."""
    return course.expected_dir / f"{exercise.id}.json"


def check_source(course: Course, exercise: Exercise) -> ReferenceSource:
    """Where ``await check`` takes the reference from: the recording when there is
    one (always, in a release), else the live reference (an instructor's new exercise
    before ``roomkit build``)."""
    return "recorded" if recording_path(course, exercise).exists() else "live"


def read_recording(course: Course, exercise: Exercise) -> dict[str, Any] | None:
    """The recording of ``exercise`` as JSON data, or None when there is none.

    :raises RecordingError: when the file is not a recording.
    """
    path = recording_path(course, exercise)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise RecordingError(f"{path} cannot be read: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), dict):
        raise RecordingError(f"{path} is not a recording: run `roomkit build`")
    return data


def hidden_count(course: Course, exercise: Exercise) -> int:
    """How many hidden tests ``exercise`` has, as its recording says (0 without a
    readable one: a broken recording fails the tests themselves, with the reason)."""
    try:
        data = read_recording(course, exercise)
    except RecordingError:
        return 0
    return int(data.get("hidden", {}).get("tests", 0)) if data else 0


@dataclass
class RecordedReference:
    """The reference side of one test, replayed from the exercise's recording.

    :param path: the recording file, for messages.
    :param key: the test's :func:`scenario_key`.
    :param observations: what the reference's clients observed, one per scenario.
    """

    path: Path
    key: str
    observations: list[dict[str, Any]]
    replayed: int = 0

    async def replay(self) -> Observed:
        """What the reference observed in the test's next scenario.

        :raises BrokenTest: when the recording has no such scenario (it is stale).
        """
        if self.replayed >= len(self.observations):
            raise BrokenTest(
                f"{self.path.name} has no recording of scenario {self.replayed + 1} of "
                f"{self.key}: the recording is stale (`roomkit build` records it again)"
            )
        self.replayed += 1
        return decode_observed(self.observations[self.replayed - 1])

    @classmethod
    def load(cls, course: Course, exercise: Exercise, key: str) -> RecordedReference:
        """The recorded reference of test ``key`` of ``exercise``.

        :raises BrokenTest: when the exercise has no recording or the file is unreadable.
        """
        path = recording_path(course, exercise)
        try:
            data = read_recording(course, exercise)
        except RecordingError as error:
            raise BrokenTest(str(error)) from None
        if data is None:
            raise BrokenTest(f"{path} does not exist: `roomkit build` records the reference")
        return cls(path, key, list(data["scenarios"].get(key, [])))


@dataclass
class ReferenceRecorder:
    """The reference side of one test while recording: the live reference, and what it observed.

    :param implementation: the live reference.
    :param observations: where each scenario's observation is appended, encoded.
    """

    implementation: Implementation
    observations: list[dict[str, Any]] = field(default_factory=list)

    async def keep(self, run: Awaitable[Observed]) -> Observed:
        """Await the reference's ``run``, keep what it observed, and return it."""
        observed = await run
        if not observed.errors:  # the judge reports a raising reference as a broken test
            self.observations.append(encode_observed(observed))
        return observed


Reference = Implementation | RecordedReference | ReferenceRecorder
