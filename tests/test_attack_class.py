"""A class with attackers, graded in one real ``roomkit grade`` run (tests/attack_class.py).

Honest students get exactly what they earned, no attack earns a point or
changes another row, every submission has one row in the JSON and the CSV, the
course's files are byte-for-byte unchanged, and the run ends by itself with
exit status 1. The first test holds today, with one worker process per
submission; the second (``sandbox``) needs grading sealed in bubblewrap.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from attack_class import ATTACKERS, HONEST, Student, make_class, make_course_copy
from course_builder import REPO

from roomkit.course.sandbox import why_unsealed

ISOLATED = [student for student in ATTACKERS if student.kind == "process"] + [
    student for student in ATTACKERS if student.name in {"patches_the_judge", "patches_json_dumps"}
]


def fingerprint(*folders: Path) -> dict[str, str]:
    """The SHA-256 of every file under ``folders`` (bytecode caches aside)."""
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def grade_class(
    tmp_path: Path, students: list[Student], *options: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]], Path]:
    """Grade ``students`` in a course copy; the process, the rows by name, the course root."""
    course = make_course_copy(tmp_path / "course")
    names = make_class(tmp_path / "class", students, tmp_path / "daemon.pid")
    before = fingerprint(course / "tests", course / "solutions", REPO / "roomkit")
    command = [
        sys.executable, "-m", "roomkit", "grade", *names,
        "--root", str(course),
        "--jobs", "2",
        "--timeout", "15",
        "--exercise", "0.1",
        "--json", "grades.json",
        "--csv", "grades.csv",
        *options,
    ]  # fmt: skip
    done = subprocess.run(
        command,
        cwd=tmp_path / "class",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert fingerprint(course / "tests", course / "solutions", REPO / "roomkit") == before
    document = json.loads((tmp_path / "class" / "grades.json").read_text())
    rows = [entry["submission"] for entry in document["submissions"]]
    assert rows == names, "one row per submission, in order"
    with (tmp_path / "class" / "grades.csv").open(newline="") as gradebook:
        assert [row["submission"] for row in csv.DictReader(gradebook)] == names
    return done, {entry["submission"]: entry for entry in document["submissions"]}, course


def assert_honest_rows_exact(rows: dict[str, dict[str, Any]]) -> None:
    full, partial, renamed = (
        rows[name]["exercises"][0] for name in ("honest_full", "honest_partial", "honest_renamed")
    )
    assert (full["score"], full["tests"], full["failed"]) == (1, 2, 0), full
    assert (partial["score"], partial["tests"], partial["failed"]) == (0.5, 2, 1), partial
    assert partial["messages"][0].startswith("everyone else hears who arrived"), partial
    assert (renamed["score"], renamed["tests"], renamed["failed"]) == (1, 2, 0), renamed
    assert rows["honest_renamed"]["notes"] == [
        "graded '00_start_here (1).ipynb' as 00_start_here.ipynb "
        "(the newest; not graded: '00_start_here.ipynb')"
    ]


@pytest.mark.timeout(400)
def test_attackers_in_their_own_processes_spoil_nothing_and_earn_nothing_by_it(
    tmp_path: Path,
) -> None:
    done, rows, _ = grade_class(tmp_path, HONEST + ISOLATED)
    assert done.returncode == 1, done.stderr[-3000:]
    assert_honest_rows_exact(rows)
    sealed = why_unsealed() is None
    for student in ISOLATED:
        row = rows[student.name]
        if student.kind == "process" or sealed:
            assert row["score"] == 0, (student.name, row)
            assert row["exercises"][0]["messages"], (student.name, row)
    hung = rows["hangs_catching_timeouts"]["exercises"][0]["messages"]
    assert any("within" in message for message in hung), hung


@pytest.mark.sandbox
@pytest.mark.timeout(600)
@pytest.mark.skipif(why_unsealed() is not None, reason=f"grading is not sealed: {why_unsealed()}")
def test_a_sealed_class_run_withstands_every_attack(tmp_path: Path) -> None:
    try:
        done, rows, _ = grade_class(tmp_path, HONEST + ATTACKERS, "--require-sandbox")
        assert done.returncode == 1, done.stderr[-3000:]
        assert_honest_rows_exact(rows)
        for student in ATTACKERS:
            assert rows[student.name]["score"] == 0, (student.name, rows[student.name])
        first = (tmp_path / "class" / "grades.json").read_text()
        command = [
            sys.executable, "-m", "roomkit", "grade",
            *(student.name for student in HONEST + ATTACKERS),
            "--root", str(tmp_path / "course"),
            "--exercise", "0.1",
            "--resume",
            "--json", "-",
        ]  # fmt: skip
        again = subprocess.run(
            command,
            cwd=tmp_path / "class",
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert json.loads(again.stdout) == json.loads(first), "the results file was forged"
    finally:
        _no_daemon_left(tmp_path / "daemon.pid")


def _no_daemon_left(marker: Path) -> None:
    """A process the attacker left running after its grading must be gone (killed here if not)."""
    if not marker.exists():
        return
    pid = int(marker.read_text() or 0)
    alive = True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        alive = False
    if alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not alive, f"process {pid}, started by a submission, outlived its grading"
