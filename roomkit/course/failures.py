"""What a learner reads when an exercise fails: short messages, tracebacks trimmed to their code.

Exercise tests raise :class:`ExerciseFailure` (an ``AssertionError``) with a
message written for the learner; the graders show that message instead of a
traceback. :func:`describe_exception` turns any other exception into a few lines
that show only the frames of the learner's own code.
"""

from __future__ import annotations

import linecache
import sysconfig
import traceback
from pathlib import Path

from roomkit.errors import RoomkitError

__all__ = [
    "BrokenTest",
    "ExerciseFailure",
    "ExerciseTimeout",
    "NotSolved",
    "describe_exception",
    "learner_frames",
    "register_source",
]

_LIBRARY_DIRS = tuple(
    str(Path(path).resolve())
    for path in {
        *(sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")),
        str(Path(__file__).resolve().parent),
    }
)


class ExerciseFailure(RoomkitError, AssertionError):
    """An exercise test failed; the message says why, in the learner's terms."""


class NotSolved(ExerciseFailure):
    """The learner's code still raises ``NotImplementedError``."""


class ExerciseTimeout(ExerciseFailure):
    """An exercise test ran out of time. Always a failure, never a pass."""


class BrokenTest(RoomkitError):
    """An exercise test fails against the reference: the test or the reference is wrong."""


def register_source(filename: str, source: str) -> None:
    """Make ``source`` known under ``filename`` so tracebacks can show its lines.

    Code compiled from a notebook cell has no file on disk; :mod:`linecache` is
    where :mod:`traceback` looks lines up.
    """
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)


def _is_learner_file(filename: str) -> bool:
    if filename.startswith("<frozen") or filename.startswith("<string"):
        return False
    if filename.startswith("<"):  # a notebook cell we compiled: learner code
        return True
    path = Path(filename).resolve()
    if path.name.startswith("test_") or path.name == "conftest.py":  # the instructor's tests
        return False
    return not str(path).startswith(_LIBRARY_DIRS)


def learner_frames(error: BaseException) -> list[traceback.FrameSummary]:
    """The frames of ``error``'s traceback that are in the learner's code (may be empty)."""
    return [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if _is_learner_file(frame.filename)
    ]


def _where(frame: traceback.FrameSummary) -> str:
    filename = frame.filename
    if filename.startswith("<"):  # "<path/to/01_topic.ipynb, cell 7>": a notebook cell
        notebook, _, cell = filename.strip("<>").rpartition(", ")
        filename = f"{Path(notebook).name}, {cell}" if notebook else cell
    else:
        filename = Path(filename).name
    return f"{filename}, line {frame.lineno}, in {frame.name}"


def describe_exception(error: BaseException, *, frames: int = 3) -> str:
    """``"KeyError: 'text'"`` followed by at most ``frames`` lines of the learner's code.

    :param error: the exception.
    :param frames: how many of the learner's innermost frames to show. Default 3.
    """
    if isinstance(error, SyntaxError) and error.filename is not None:
        notebook, _, cell = error.filename.strip("<>").rpartition(", ")
        where = f"{Path(notebook).name}, {cell}" if notebook else cell
        text = (error.text or "").strip()
        shown = f"\n    {text}" if text else ""
        return f"SyntaxError: {error.msg} ({where}, line {error.lineno}){shown}"
    message = str(error)
    lines = [f"{type(error).__name__}: {message}" if message else type(error).__name__]
    for frame in learner_frames(error)[-frames:]:
        code = (frame.line or "").strip()
        lines.append(f"    {_where(frame)}" + (f": {code}" if code else ""))
    return "\n".join(lines)
