"""The class outputs of ``roomkit grade``: feedback files, the gradebook, Gradescope.

:func:`add_export_options` adds the options to the ``grade`` command and
:func:`write_exports` writes what they ask for from the graded submissions,
so the command itself needs two lines for all of them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from roomkit.course.feedback_files import write_feedback
from roomkit.course.gradebook import Roster, write_gradebook
from roomkit.course.gradescope import write_results
from roomkit.course.results import SubmissionResult
from roomkit.errors import RoomkitError

__all__ = ["ExportError", "add_export_options", "write_exports"]


class ExportError(RoomkitError):
    """The options ask for something the submissions cannot give; the message says what."""


def add_export_options(grade: argparse.ArgumentParser) -> None:
    """Add ``--feedback``, ``--feedback-html``, ``--show-hidden``, ``--roster``,
    ``--gradebook`` and ``--format`` to the ``grade`` command's parser."""
    grade.add_argument(
        "--feedback", type=Path, metavar="DIR", help="write a feedback file per submission"
    )
    grade.add_argument(
        "--feedback-html", action="store_true", help="with --feedback: HTML files too"
    )
    grade.add_argument(
        "--show-hidden",
        action="store_true",
        help="show hidden tests' results in feedback and Gradescope (default: counts only)",
    )
    grade.add_argument(
        "--roster",
        type=Path,
        metavar="CSV",
        help="student ids by submission folder (columns submission, student_id)",
    )
    grade.add_argument(
        "--gradebook",
        type=Path,
        metavar="FILE",
        help="write the gradebook: per-exercise and per-test scores (.csv, or .json)",
    )
    grade.add_argument(
        "--format",
        choices=("roomkit", "gradescope"),
        default="roomkit",
        help="what --json writes: roomkit's results, or Gradescope's results.json (one submission)",
    )


def write_exports(args: argparse.Namespace, submissions: Sequence[SubmissionResult]) -> None:
    """Write what ``args`` asks for (see :func:`add_export_options`).

    :param args: the ``grade`` command's arguments.
    :param submissions: the graded submissions.
    :raises RoomkitError: when the roster cannot be read or misses a submission, or
        Gradescope's format is asked for several submissions.
    """
    roster = Roster.read(args.roster) if args.roster else None
    if args.gradebook:
        write_gradebook(submissions, args.gradebook, roster)
    if args.feedback:
        write_feedback(
            submissions,
            args.feedback,
            roster=roster,
            as_html=args.feedback_html,
            show_hidden=args.show_hidden,
        )
    if args.format == "gradescope" and args.json:
        if len(submissions) != 1:
            raise ExportError("--format gradescope grades one submission at a time")
        write_results(submissions[0], args.json, show_hidden=args.show_hidden)
