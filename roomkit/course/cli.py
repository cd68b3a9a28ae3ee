"""The course's commands: ``roomkit build``, ``grade``, ``check-course``, ``new-exercise``,
``new-notebook``, ``release`` and ``gradescope-autograder``.

The modules behind them (nbformat, pytest) are imported when a command runs,
so ``roomkit serve`` does not need them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from roomkit.course.export import add_export_options
from roomkit.course.manifest import Course, find_course_root, load_course
from roomkit.errors import RoomkitError

__all__ = ["RESULTS_FILE", "add_course_commands"]

RESULTS_FILE = "roomkit-grade.jsonl"


def add_course_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the course's commands (see the module docstring) to the ``roomkit`` command's
    subcommands."""
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

    grade = commands.add_parser(
        "grade",
        help="grade notebooks or submission folders, one worker process per submission",
        description="Exit status: 0 when every exercise of every submission passed, 1 when "
        "some did not, 2 on a usage or course error (including a path with no gradable "
        "notebook; the others are still graded).",
    )
    grade.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="notebook files or folders of notebooks, one per submission (notebooks/)",
    )
    grade.add_argument(
        "--json", metavar="FILE", help="write the results as JSON ('-': standard output)"
    )
    grade.add_argument(
        "--csv", type=Path, metavar="FILE", help="write one gradebook row per submission"
    )
    grade.add_argument(
        "--exercise", action="append", metavar="ID", help="grade only this exercise (repeatable)"
    )
    grade.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="grade N submissions at once (the default is this machine's CPU count)",
    )
    grade.add_argument(
        "--results",
        type=Path,
        default=Path(RESULTS_FILE),
        metavar="FILE",
        help="append each submission's result to FILE as it is known",
    )
    grade.add_argument(
        "--resume",
        action="store_true",
        help="skip the submissions already in the results file (same exercises)",
    )
    grade.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="wall-clock limit of one submission (60 s plus 30 s per exercise)",
    )
    sealing = grade.add_mutually_exclusive_group()
    sealing.add_argument(
        "--require-sandbox",
        action="store_const",
        const="require",
        dest="sandbox",
        help="refuse to grade unless each submission can be sealed in a sandbox (bubblewrap)",
    )
    sealing.add_argument(
        "--no-sandbox",
        action="store_const",
        const="off",
        dest="sandbox",
        help="grade without a sandbox: for tests; submitted code can reach the grader's files",
    )
    grade.add_argument("--quiet", action="store_true", help="print no progress and no tables")
    grade.add_argument(
        "--summary",
        action="store_true",
        help="list every exercise as passed, failed or not started (folders only); exit 0",
    )
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
    new.add_argument(
        "--points", type=float, default=1.0, help="what the exercise is worth (default 1)"
    )
    new.add_argument("--root", type=Path, default=None, help="the course folder (found from .)")
    new.set_defaults(run=_new_exercise)

    notebook = commands.add_parser(
        "new-notebook", help="add a solution notebook in the course's shape"
    )
    notebook.add_argument("name", help="its file name, e.g. 08_history.ipynb")
    notebook.add_argument("--title", required=True, help="its title, e.g. 'Message history'")
    notebook.add_argument(
        "--root", type=Path, default=None, help="the course folder (found from .)"
    )
    notebook.set_defaults(run=_new_notebook)


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


def _grade(args: argparse.Namespace) -> int:
    if args.summary:
        return _summary(args)
    from roomkit.course.grade_command import grade_command

    return grade_command(args)


def _summary(args: argparse.Namespace) -> int:
    from roomkit.course.progress import progress_of, render_progress

    try:
        course = _course(args)
    except RoomkitError as error:
        print(f"roomkit grade: {error}", file=sys.stderr)
        return 2
    folders: list[Path] = args.paths or [course.notebooks_dir]
    missing = [str(path) for path in folders if not path.exists()]
    if missing:
        print(f"roomkit grade: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    files = [str(path) for path in folders if not path.is_dir()]
    if files:
        print(f"roomkit grade --summary: not a folder: {', '.join(files)}", file=sys.stderr)
        return 2
    for folder in folders:
        print(render_progress(progress_of(course, folder), folder), end="\n\n", flush=True)
    return 0


def _new_exercise(args: argparse.Namespace) -> int:
    from roomkit.course.scaffold import new_exercise
    from roomkit.course.templates import PLACEHOLDER

    try:
        course = _course(args)
        exercise = new_exercise(
            course,
            args.id,
            title=args.title,
            notebook=args.notebook,
            defines=args.defines,
            hints=args.hint,
            points=args.points,
        )
    except RoomkitError as error:
        print(f"roomkit new-exercise: {error}", file=sys.stderr)
        return 2
    test_path = course.test_path(exercise).relative_to(course.root)
    print(f"added exercise {exercise.id} to {course.manifest_path.relative_to(course.root)}")
    print(f"wrote {test_path} (replace its TODOs)")
    print(
        f"added to solutions/{exercise.notebook}, before its recap: the exercise's prose, its "
        f"cell (tags 'exercise' and '{exercise.tag}', with the solution region), a try-it "
        f'cell with prose before it, and `await check("{exercise.id}")` with prose before it'
        f"\n\nNext:\n"
        f"  1. in solutions/{exercise.notebook}, replace every {PLACEHOLDER}: the spec, the "
        "solution between the markers, what the try-it cell shows;\n"
        f"  2. in {test_path}, write the scenarios and replace every TODO; tie each test "
        "function to its hint in exercises.toml ([exercises.hint_for]);\n"
        "  3. run `roomkit build`, then `roomkit check-course`, which checks each of these "
        "cells, the ties and the placeholders, and that every test fails on the stub "
        "(docs/instructors.md)."
    )
    return 0


def _new_notebook(args: argparse.Namespace) -> int:
    from roomkit.course.scaffold import new_notebook
    from roomkit.course.templates import PLACEHOLDER

    try:
        course = _course(args)
        path = new_notebook(course, args.name, title=args.title)
    except RoomkitError as error:
        print(f"roomkit new-notebook: {error}", file=sys.stderr)
        return 2
    print(
        f"wrote {path.relative_to(course.root)}: title and learning goals, the setup cell, "
        "recap, questions from the source, what comes next\n\nNext:\n"
        f"  1. replace every {PLACEHOLDER} in it;\n"
        f"  2. add a row for `{path.stem}` to the notebook table in README.md;\n"
        "  3. link it from the previous notebook's '## What comes next' "
        f"([{path.name[:2]} · {args.title.strip()}]({path.name}));\n"
        f"  4. add exercises with `roomkit new-exercise {int(path.name[:2])}.1 --notebook "
        f'{path.name} --title "..." --defines ... --hint "..."`;\n'
        "  5. run `roomkit build`, then `roomkit check-course`, which checks all of these."
    )
    return 0
