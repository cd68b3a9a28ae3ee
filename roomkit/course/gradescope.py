"""Gradescope: ``results.json`` for one submission, and the autograder bundle.

Gradescope runs ``/autograder/run_autograder`` with the student's files in
``/autograder/submission`` and reads ``/autograder/results/results.json``
(https://gradescope-autograders.readthedocs.io/en/latest/specs/). The bundle
that ``roomkit gradescope-autograder OUT.zip`` writes holds the whole course
(``course/``, with ``solutions/`` and the hidden tests: it runs on Gradescope's
machines, never the student's), ``setup.sh`` that installs it, and
``run_autograder`` that calls ``roomkit grade --format gradescope``.
"""

from __future__ import annotations

import json
import stat
import sys
import zipfile
from pathlib import Path
from typing import Any

from roomkit.course.manifest import Course
from roomkit.course.reports import MARKS
from roomkit.course.results import SubmissionResult

__all__ = ["HIDDEN_VISIBILITY", "gradescope_results", "write_autograder", "write_results"]

# Gradescope's visibility of a hidden test's row, unless the instructor opts in
# (then "after_published": shown with the published grades).
HIDDEN_VISIBILITY = "hidden"

SETUP = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder's image.
set -euo pipefail
apt-get update
apt-get install -y python3 python3-pip python3-venv redis-server
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --upgrade pip
/autograder/venv/bin/pip install -e '/autograder/source/course[course]'
"""

RUN = """\
#!/usr/bin/env bash
# Gradescope runs this for each submission. AUTOGRADER and ROOMKIT may be set to
# run it elsewhere (roomkit's tests do, in a simulated /autograder tree).
set -uo pipefail
AUTOGRADER="${{AUTOGRADER:-/autograder}}"
ROOMKIT="${{ROOMKIT:-$AUTOGRADER/venv/bin/roomkit}}"
mkdir -p "$AUTOGRADER/results"
cd "$AUTOGRADER/source/course"
$ROOMKIT grade "$AUTOGRADER/submission" --root . --quiet --format gradescope{show_hidden} \\
    --json "$AUTOGRADER/results/results.json"
status=$?
# 1 means "graded, not everything passed": a result like any other.
if [ "$status" -gt 1 ]; then
    printf '{{"score": 0, "output": "the autograder failed (roomkit grade exited %s)"}}\\n' \\
        "$status" > "$AUTOGRADER/results/results.json"
fi
exit 0
"""

# What the bundle's course/ leaves out: the author's caches and build outputs.
_SKIPPED_PARTS = {"__pycache__", ".venv", "node_modules", ".git", ".pytest_cache", ".mypy_cache"}
_COURSE_PARTS = (
    "roomkit",
    "solutions",
    "notebooks",
    "tests/exercises",
    "pyproject.toml",
    "README.md",  # pyproject.toml's readme: pip needs it to install the course
)


def gradescope_results(
    submission: SubmissionResult, *, show_hidden: bool = False
) -> dict[str, Any]:
    """Gradescope's ``results.json`` for ``submission``: a row per test.

    :param submission: the graded submission.
    :param show_hidden: show hidden tests' rows after the grades are published.
        Default False: they stay hidden (their points still count).
    """
    tests = []
    for result in submission.exercises:
        if result.problem:
            tests.append(
                {
                    "name": f"{result.exercise.id} {result.exercise.title}",
                    "score": 0.0,
                    "max_score": result.exercise.points,
                    "output": result.problem,
                    "visibility": "visible",
                    "status": "failed",
                }
            )
        for test in result.results:
            visibility = "visible"
            if test.hidden:
                visibility = "after_published" if show_hidden else HIDDEN_VISIBILITY
            tests.append(
                {
                    "name": f"{result.exercise.id} {test.name}",
                    "score": result.test_points(test) if test.passed else 0.0,
                    "max_score": result.test_points(test),
                    "output": test.message or MARKS[test.outcome],
                    "visibility": visibility,
                    "status": "passed" if test.passed else "failed",
                }
            )
    return {
        "score": submission.score,
        "execution_time": round(submission.seconds, 3),
        "output": (
            f"{submission.passed} of {len(submission.exercises)} exercises passed: "
            f"{submission.score:g} of {submission.max_score:g} points"
        ),
        "visibility": "visible",
        "tests": tests,
    }


def write_results(
    submission: SubmissionResult, target: str | Path, *, show_hidden: bool = False
) -> None:
    """Write :func:`gradescope_results` to file ``target``, or to standard output for ``"-"``."""
    text = json.dumps(gradescope_results(submission, show_hidden=show_hidden), indent=2) + "\n"
    if str(target) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        Path(target).write_text(text, encoding="utf-8")


def _add(bundle: zipfile.ZipFile, path: Path, name: str, *, executable: bool = False) -> None:
    info = zipfile.ZipInfo.from_file(path, name)
    if executable:
        info.external_attr = (0o755 | stat.S_IFREG) << 16
    bundle.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)


def _add_text(bundle: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = (0o755 | stat.S_IFREG) << 16
    bundle.writestr(info, text, zipfile.ZIP_DEFLATED)


def write_autograder(course: Course, path: Path, *, show_hidden: bool = False) -> list[str]:
    """Write Gradescope's autograder bundle for ``course`` to ``path`` (a zip).

    :param course: the instructor's course (with ``solutions/``).
    :param path: the zip file to write.
    :param show_hidden: see :func:`gradescope_results`. Default False.
    :returns: the names in the bundle.
    """
    package = Path(__file__).resolve().parents[1]
    with zipfile.ZipFile(path, "w") as bundle:
        _add_text(bundle, "setup.sh", SETUP)
        _add_text(bundle, "run_autograder", RUN.format(show_hidden=" --show-hidden" * show_hidden))
        for part in _COURSE_PARTS:
            source = package if part == "roomkit" else course.root / part
            if not source.exists():
                continue  # a throwaway course may have no pyproject.toml or README
            files = [source] if source.is_file() else sorted(source.rglob("*"))
            for file in files:
                relative = file.relative_to(source.parent if part == "roomkit" else course.root)
                if file.is_file() and not _SKIPPED_PARTS & set(relative.parts):
                    _add(bundle, file, f"course/{relative.as_posix()}")
        return bundle.namelist()
