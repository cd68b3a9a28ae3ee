"""``roomkit grade``: resolve the submissions, grade the class, write the tables, JSON and CSV.

The exit status is 0 when every exercise of every submission passed, 1 when
some did not, and 2 on a usage or course error: an unknown exercise, a missing
path, sealed grading required where it is not available, or a path with no
gradable notebook (the other paths are still graded, and that path still has
its row, every exercise at 0 with the reason); 130 when interrupted (Ctrl-C),
with the rows graded so far in the results file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from roomkit.course.class_progress import ClassProgress
from roomkit.course.classrun import ClassRun, default_deadline, grade_class
from roomkit.course.export import ExportError, write_exports
from roomkit.course.gradebook import Roster
from roomkit.course.manifest import Course, find_course_root, load_course
from roomkit.course.records import Row
from roomkit.course.reports import render_table, write_csv
from roomkit.course.sandbox import why_unsealed
from roomkit.course.submissions import Submission, find_submission
from roomkit.errors import RoomkitError

__all__ = ["grade_command", "write_rows_json"]

UNSEALED_WARNING = (
    "roomkit grade: warning: grading without a sandbox ({why}): each submission's code "
    "can read and change what this user can (solutions/, tests/, other submissions)"
)


def write_rows_json(rows: Sequence[Row], target: str) -> None:
    """Write the rows as ``--json`` does: one object for one submission, else
    ``{"submissions": [...]}``; ``target`` ``"-"`` is standard output."""
    entries = [row.to_json() for row in rows]
    document = entries[0] if len(entries) == 1 else {"submissions": entries}
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        Path(target).write_text(text, encoding="utf-8")


def _resolve(args: argparse.Namespace) -> tuple[Course, list[Submission]]:
    """The course and the submissions named on the command line."""
    course = load_course(find_course_root(args.root))
    chosen = [course.exercise(exercise_id) for exercise_id in args.exercise or []]
    paths = list(dict.fromkeys(args.paths or [course.notebooks_dir]))
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        raise RoomkitError(f"no such file or folder: {', '.join(missing)}")
    return course, [find_submission(course, path, chosen) for path in paths]


def _sandbox_mode(args: argparse.Namespace, quiet: bool) -> str:
    mode: str = args.sandbox or "auto"
    why = why_unsealed()
    if mode != "off" and why is not None:
        if mode == "require":
            raise RoomkitError(f"--require-sandbox: sealed grading is not available: {why}")
        if not quiet:
            print(UNSEALED_WARNING.format(why=why), file=sys.stderr)
    return mode


def _check_exports(args: argparse.Namespace, submissions: Sequence[Submission]) -> None:
    """Refuse, before grading anything, the exports that could not be written after."""
    if args.roster:
        Roster.read(args.roster)  # a missing or malformed roster says so now
    if args.format == "gradescope" and args.json and len(submissions) != 1:
        raise ExportError("--format gradescope grades one submission at a time")


def grade_command(args: argparse.Namespace) -> int:
    """Run ``roomkit grade`` with parsed ``args``; returns the exit status."""
    if args.jobs < 1 or (args.timeout is not None and args.timeout <= 0):
        print("roomkit grade: --jobs and --timeout must be positive", file=sys.stderr)
        return 2
    try:
        course, submissions = _resolve(args)
        sandbox = _sandbox_mode(args, args.quiet)
        _check_exports(args, submissions)
    except RoomkitError as error:
        print(f"roomkit grade: {error}", file=sys.stderr)
        return 2
    ungradable = [submission for submission in submissions if not submission.gradable]
    for submission in ungradable:
        print(
            f"roomkit grade: {submission.label}: no gradable notebook (no notebook with a cell "
            "tagged exercise-<id> of the exercises graded)",
            file=sys.stderr,
        )
    progress = None if args.quiet else ClassProgress(sys.stderr, len(submissions))
    timeout = args.timeout
    run = ClassRun(
        course,
        args.results,
        jobs=args.jobs,
        sandbox=sandbox,
        deadline=default_deadline if timeout is None else (lambda _exercises: float(timeout)),
        resume=args.resume,
        on_row=progress,
    )
    try:
        rows = asyncio.run(grade_class(run, submissions))
    except KeyboardInterrupt:
        print(
            f"roomkit grade: interrupted; the rows graded so far are in {args.results} "
            "(--resume goes on from there)",
            file=sys.stderr,
        )
        return 130
    if not args.quiet and args.json != "-":
        for row in rows:
            print(render_table(row.result), flush=True)
            for note in row.notes:
                print(f"note: {note}")
            print(flush=True)
    if args.json and args.format == "roomkit":
        write_rows_json(rows, args.json)
    if args.csv:
        write_csv([row.result for row in rows], args.csv)
    try:
        write_exports(args, [row.result for row in rows])
    except RoomkitError as error:
        print(f"roomkit grade: {error}", file=sys.stderr)
        return 2
    if ungradable:
        return 2
    return 0 if all(row.passed for row in rows) else 1
