"""What a learner reads when an exercise fails: short messages, tracebacks trimmed to their code.

Exercise tests raise :class:`ExerciseFailure` (an ``AssertionError``) with a
message written for the learner; the graders show that message instead of a
traceback. :func:`describe_exception` (from :mod:`roomkit.handler_errors`, which
:mod:`roomkit.testing` shares) turns any other exception into a few lines that
show only the frames of the learner's own code.
"""

from __future__ import annotations

from roomkit.errors import RoomkitError
from roomkit.handler_errors import describe_exception, learner_frames, register_source

__all__ = [
    "BrokenTest",
    "ExerciseFailure",
    "ExerciseTimeout",
    "NotSolved",
    "describe_exception",
    "learner_frames",
    "register_source",
]


class ExerciseFailure(RoomkitError, AssertionError):
    """An exercise test failed; the message says why, in the learner's terms."""


class NotSolved(ExerciseFailure):
    """The learner's code still raises ``NotImplementedError``."""


class ExerciseTimeout(ExerciseFailure):
    """An exercise test ran out of time. Always a failure, never a pass."""


class BrokenTest(RoomkitError):
    """An exercise test fails against the reference: the test or the reference is wrong."""
