"""One submission's grading process: ``python -m roomkit.course.grade_worker``.

:mod:`roomkit.course.classrun` starts one such process per submission, in its own
process group, and kills that group at its deadline. The worker grades the
submission's staged copy with :func:`roomkit.course.grading.grade` and writes one
record (:mod:`roomkit.course.records`) to the file descriptor it was given: a pipe
that only the grader reads. Its standard output and error are not a channel (the
submission's code may print anything there); the grader keeps them as a log.

The submission's code runs in a candidate host (:mod:`roomkit.course.remote`),
sealed by bubblewrap where it works, else a plain child process; never in this
one, except with ``--no-sandbox`` (``sandbox="off"``). There it runs here, and
could write to the pipe too: the grader then accepts only one
well-formed record that answers exactly the exercises asked, which stops
garbage, crashes and forks from costing anyone else their row, but not a
submission forging its own row. docs/instructors.md has the threat model.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import get_args

from roomkit.course.grading import grade
from roomkit.course.manifest import load_course
from roomkit.course.records import Row, write_record
from roomkit.course.sandbox import SandboxMode
from roomkit.errors import RoomkitError

__all__ = ["FILE_SIZE_LIMIT", "MEMORY_LIMIT", "main"]

MEMORY_LIMIT = 4 * 1024**3  # the worker's address space; a sealed candidate gets its own cap
FILE_SIZE_LIMIT = 256 * 1024**2  # its largest file: the log of what the submission printed


def _skip_unneeded_imports() -> None:
    """Keep jsonschema (imported by nbformat) from importing ``rfc3987_syntax``.

    jsonschema imports it, when installed, to check the "iri" string format, which
    the notebook schema does not use; the import builds a grammar and costs about
    a second of CPU, in every worker. Marked missing, jsonschema does without it.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m roomkit.course.grade_worker")
    parser.add_argument("folder", type=Path, help="the submission's staged folder")
    parser.add_argument("--root", type=Path, required=True, help="the course folder")
    parser.add_argument("--label", required=True, help="the submission's name in its row")
    parser.add_argument("--exercise", action="append", default=[], help="an exercise id")
    parser.add_argument("--sandbox", choices=get_args(SandboxMode), default="auto")
    parser.add_argument("--result-fd", type=int, required=True, help="where the record goes")
    parser.add_argument("--memory-limit", type=int, default=MEMORY_LIMIT, help="bytes")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Grade one submission and write its record; returns the exit status."""
    args = _parser().parse_args(argv)
    # Taken before any submitted code runs: neither the channel nor the limit
    # can then be refused (the hard limit cannot be raised again).
    channel = os.fdopen(args.result_fd, "w", encoding="utf-8")
    resource.setrlimit(resource.RLIMIT_AS, (args.memory_limit, args.memory_limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    _die_with_the_grader()
    _skip_unneeded_imports()
    with channel:
        try:
            course = load_course(args.root)
            exercises = [course.exercise(exercise_id) for exercise_id in args.exercise]
            result = grade(course, args.folder, exercises=exercises, sandbox=args.sandbox)
        except RoomkitError as error:
            print(f"roomkit grade: {error}", file=sys.stderr)
            return 2
        result.label = args.label
        channel.write(write_record(Row(result, [exercise.id for exercise in exercises])))
    return 0


def _die_with_the_grader() -> None:
    """Have Linux kill this process when the grader dies (``PR_SET_PDEATHSIG``), so
    that a grader killed mid-run leaves no worker behind. Elsewhere, nothing."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


if __name__ == "__main__":
    sys.exit(main())
