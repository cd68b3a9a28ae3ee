"""The course's commands: ``roomkit build``, ``grade``, ``check-course`` and ``new-exercise``.

The modules behind them (nbformat, pytest) are imported when a command runs,
so ``roomkit serve`` does not need them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from roomkit.course.export import add_export_options
from roomkit.course.manifest import Course, find_course_root, load_course
from roomkit.course.reports import MARKS
from roomkit.course.results import TestResult
from roomkit.errors import RoomkitError

__all__ = ["add_course_commands"]


def add_course_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``build``, ``grade``, ``check-course`` and ``new-exercise`` to the ``roomkit``
    command's subcommands."""
    build = commands.add_parser("build", help="generate the learner's notebooks/ from solutions/")
    build.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when notebooks/ or a recording is stale, or a "
        "scenario is not deterministic (records twice)",
    )
    build.add_argument(
        "--no-record",
        action="store_true",
        help="only the notebooks: do not record the reference into notebooks/.expected/",
    )
    build.add_argument(
        "--force", action="store_true", help="also overwrite notebooks that hold outputs"
    )
    build.add_argument("--root", type=Path, default=None, help="the course folder (found from .)")
    build.set_defaults(run=_build)

    grade = commands.add_parser("grade", help="grade notebooks or submission folders")
    grade.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="notebook files or folders of notebooks, one per submission (notebooks/)",
    )
    grade.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    grade.add_argument(
        "--csv", type=Path, metavar="FILE", help="write one gradebook row per submission"
    )
    grade.add_argument(
        "--exercise", action="append", metavar="ID", help="grade only this exercise (repeatable)"
    )
    grade.add_argument("--quiet", action="store_true", help="print no progress and no tables")
    add_export_options(grade)
    grade.add_argument("--root", type=Path, default=None, help="the course folder (found from .)")
    grade.set_defaults(run=_grade)

    release = commands.add_parser(
        "release", help="write the student release: no solutions/, no hidden tests"
    )
    release.add_argument("directory", type=Path, help="a new folder for the release")
    release.add_argument("--root", type=Path, default=None, help="the course folder (found from .)")
    release.set_defaults(run=_release)

    autograder = commands.add_parser(
        "gradescope-autograder", help="write Gradescope's autograder bundle (a zip)"
    )
    autograder.add_argument("zip", type=Path, help="the zip file to write, e.g. autograder.zip")
    autograder.add_argument(
        "--show-hidden",
        action="store_true",
        help="show hidden tests' rows once grades are published (default: hidden)",
    )
    autograder.add_argument(
        "--root", type=Path, default=None, help="the course folder (found from .)"
    )
    autograder.set_defaults(run=_gradescope_autograder)

    check = commands.add_parser(
        "check-course",
        help="list every problem of the course: parts that disagree, tests that cannot fail",
    )
    check.add_argument("--static", action="store_true", help="only compare the files; run no tests")
    check.add_argument("--root", type=Path, default=None, help="the course folder (found from .)")
    check.set_defaults(run=_check_course)

    new = commands.add_parser(
        "new-exercise", help="add an exercise: its manifest entry and a test module skeleton"
    )
    new.add_argument("id", help="the exercise id, e.g. 2.3")
    new.add_argument("--title", required=True, help="a short title")
    new.add_argument("--notebook", required=True, help="its notebook, e.g. 02_rooms.ipynb")
    new.add_argument(
        "--defines", nargs="+", required=True, metavar="NAME", help="the names the learner defines"
    )
    new.add_argument(
        "--hint", action="append", required=True, help="a hint (repeat for more, in order)"
    )
    new.add_argument("--root", type=Path, default=None, help="the course folder (found from .)")
    new.set_defaults(run=_new_exercise)


def _course(args: argparse.Namespace) -> Course:
    return load_course(find_course_root(args.root))


def _build(args: argparse.Namespace) -> int:
    from roomkit.course.authoring import build

    try:
        report = build(_course(args), check=args.check, force=args.force)
    except RoomkitError as error:
        print(f"roomkit build: {error}", file=sys.stderr)
        return 2
    for path in report.written:
        print(f"wrote {path}")
    for path in report.stale:
        print(f"stale: {path} (run `roomkit build`)", file=sys.stderr)
    for path in report.refused:
        print(
            f"not overwritten: {path} holds outputs, someone worked in it "
            "(`roomkit build --force` overwrites it)",
            file=sys.stderr,
        )
    for path in report.orphans:
        print(f"orphan: {path} has no notebook in solutions/", file=sys.stderr)
    if report.ok:
        print(f"notebooks/ is up to date ({len(report.written) + len(report.unchanged)} notebooks)")
    recorded = args.no_record or _record(_course(args), check=args.check)
    return 0 if report.ok and recorded else 1


def _record(course: Course, *, check: bool) -> bool:
    """Record the reference into notebooks/.expected/ (or, with ``check``, compare)."""
    from roomkit.course.expected import record, recording_problems, write_recordings

    try:
        if check:
            problems = recording_problems(course)
        else:
            changed = write_recordings(course, record(course))
            problems = []
    except RoomkitError as error:
        print(f"roomkit build: {error}", file=sys.stderr)
        return False
    for problem in problems:
        print(problem, file=sys.stderr)
    if not check:
        for path in changed:
            print(f"wrote {path}")
    if not problems:
        print(f"notebooks/.expected/ is up to date ({len(course.exercises)} recordings)")
    return not problems


def _release(args: argparse.Namespace) -> int:
    from roomkit.course.release import release

    try:
        report = release(_course(args), args.directory)
    except RoomkitError as error:
        print(f"roomkit release: {error}", file=sys.stderr)
        return 2
    print(
        f"wrote the release to {report.root}: {len(report.notebooks)} notebooks, "
        f"{len(report.test_modules)} public test modules; left out solutions/ and "
        f"{len(report.hidden_left_out)} hidden test(s) or module(s)"
    )
    return 0


def _gradescope_autograder(args: argparse.Namespace) -> int:
    from roomkit.course.gradescope import write_autograder

    try:
        names = write_autograder(_course(args), args.zip, show_hidden=args.show_hidden)
    except (RoomkitError, OSError) as error:
        print(f"roomkit gradescope-autograder: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.zip}: setup.sh, run_autograder and the course ({len(names)} files)")
    return 0


def _check_course(args: argparse.Namespace) -> int:
    from roomkit.course.integrity import course_problems, unreliable_tests

    try:
        course = _course(args)
        problems = course_problems(course)
        if not args.static:
            problems += unreliable_tests(course)
    except RoomkitError as error:
        print(f"roomkit check-course: {error}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"✗ {problem}", file=sys.stderr)
    if problems:
        print(
            f"{len(problems)} problem{'s' if len(problems) > 1 else ''} "
            "(docs/instructors.md says how to fix each kind)",
            file=sys.stderr,
        )
        return 1
    checked = "files agree" if args.static else "files agree, every test can fail"
    print(f"the course is consistent: {len(course.exercises)} exercises, {checked}")
    return 0


class _ProgressLine:
    """One line per submission, one mark per test as it completes."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def start(self, label: str) -> None:
        self.stream.write(f"grading {label} ")
        self.stream.flush()

    def __call__(self, result: TestResult) -> None:
        self.stream.write(MARKS[result.outcome])
        self.stream.flush()

    def end(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _grade(args: argparse.Namespace) -> int:
    from roomkit.course.export import write_exports
    from roomkit.course.grading import grade
    from roomkit.course.reports import render_table, write_csv, write_json

    try:
        course = _course(args)
        chosen = [course.exercise(exercise_id) for exercise_id in args.exercise or []]
    except RoomkitError as error:
        print(f"roomkit grade: {error}", file=sys.stderr)
        return 2
    paths = args.paths or [course.notebooks_dir]
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        print(f"roomkit grade: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    progress = None if args.quiet else _ProgressLine(sys.stderr)
    submissions = []
    for path in paths:
        exercises = None
        if chosen:
            exercises = chosen if path.is_dir() else [e for e in chosen if e.notebook == path.name]
        if progress is not None:
            progress.start(str(path))
        submission = grade(course, path, exercises=exercises, progress=progress)
        if progress is not None:
            progress.end()
            print(render_table(submission), end="\n\n", flush=True)
        submissions.append(submission)
    if args.json and args.format == "roomkit":
        write_json(submissions, args.json)
    if args.csv:
        write_csv(submissions, args.csv)
    try:
        write_exports(args, submissions)
    except RoomkitError as error:
        print(f"roomkit grade: {error}", file=sys.stderr)
        return 2
    everything = all(result.passed for submission in submissions for result in submission.exercises)
    return 0 if everything else 1


def _new_exercise(args: argparse.Namespace) -> int:
    from roomkit.course.scaffold import exercise_cell, new_exercise

    try:
        course = _course(args)
        exercise = new_exercise(
            course,
            args.id,
            title=args.title,
            notebook=args.notebook,
            defines=args.defines,
            hints=args.hint,
        )
    except RoomkitError as error:
        print(f"roomkit new-exercise: {error}", file=sys.stderr)
        return 2
    test_path = course.test_path(exercise).relative_to(course.root)
    print(f"added exercise {exercise.id} to {course.manifest_path.relative_to(course.root)}")
    print(f"wrote {test_path} (replace its TODOs)")
    print(
        f"\nNext: in solutions/{exercise.notebook}, add a code cell tagged "
        f"'exercise' and '{exercise.tag}', for example:\n\n{exercise_cell(exercise)}\n"
        "then write the tests, run `roomkit build`, and "
        "`roomkit check-course` (docs/instructors.md)."
    )
    return 0
