"""A class's outputs from ``roomkit grade``: feedback files, the gradebook with a roster,
Gradescope's ``results.json``, and the autograder bundle run in a simulated ``/autograder``."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from course_builder import SOLVED
from test_recording import EMPTY_IS_NOTHING, hidden_course, learner, roomkit

from roomkit.course.gradebook import Roster, RosterError
from roomkit.course.manifest import Exercise
from roomkit.course.results import ExerciseResult, Outcome, SubmissionResult, TestResult

HIDDEN_NAME = "an empty text comes back empty"
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


@pytest.fixture
def graded_class(tmp_path: Path) -> Path:
    """A course with a hidden test, and two submissions: ann fails the hidden test only."""
    course = hidden_course(tmp_path / "course")
    learner(tmp_path / "ann", course, EMPTY_IS_NOTHING)
    learner(tmp_path / "bob", course, SOLVED)
    (tmp_path / "roster.csv").write_text(
        "submission,student_id,name\nann,s001,Ann Lee\nbob,s002,Bob Diaz\n"
    )
    return course


def grade(tmp_path: Path, course: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return roomkit("grade", *args, "--root", str(course), "--quiet", cwd=tmp_path)


class _Balance(HTMLParser):
    """Checks that every element opened is closed, in order."""

    VOID = frozenset({"meta"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open.pop() == tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_feedback_files_and_gradebook_keyed_by_the_roster(
    graded_class: Path, tmp_path: Path
) -> None:
    done = grade(
        tmp_path, graded_class, "ann", "bob",
        "--roster", "roster.csv", "--gradebook", "book.csv",
        "--feedback", "feedback", "--feedback-html",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert sorted(path.name for path in (tmp_path / "feedback").iterdir()) == [
        "s001.html", "s001.md", "s002.html", "s002.md"
    ]  # fmt: skip
    ann = (tmp_path / "feedback" / "s001.md").read_text()
    assert ann.startswith("# Feedback for s001\n")
    assert "Total: 0.75 of 1 points; 0 of 1 exercises passed." in ann
    assert "## Exercise 9.1 · Echo" in ann
    assert "Score: 0.75 of 1." in ann
    assert "- ✓ echo answers with the text" in ann
    assert "Checks run at grading only: 0 of 1 passed (they cover: empty texts)." in ann
    assert "Hint 1: Return the text from the handler." in ann
    assert HIDDEN_NAME not in ann
    bob = (tmp_path / "feedback" / "s002.md").read_text()
    assert "Checks run at grading only: 1 of 1 passed" in bob
    assert "Hint 1" not in bob

    page = _Balance()
    page.feed((tmp_path / "feedback" / "s001.html").read_text())
    page.close()
    assert page.open == []
    shown = "".join(page.text)
    assert "Feedback for s001" in shown
    assert "✓ echo answers with the text" in shown
    assert HIDDEN_NAME not in shown

    with (tmp_path / "book.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:4] == ["student_id", "name", "submission", "9.1"]
    assert [(row["student_id"], row["name"]) for row in rows] == [
        ("s001", "Ann Lee"), ("s002", "Bob Diaz")
    ]  # fmt: skip
    assert (rows[0]["9.1"], rows[0]["score"], rows[0]["max_score"]) == ("0.75", "0.75", "1")
    assert rows[0]["9.1:test_echo_answers_with_the_text"] == "0.75"
    assert rows[0]["9.1:test_echo_keeps_an_empty_text"] == "0"
    assert rows[1]["9.1:test_echo_keeps_an_empty_text"] == "0.25"
    assert float(rows[0]["grading_seconds"]) > 0
    assert rows[0]["roomkit_version"] == "0.1.0"
    assert rows[0]["graded_at"].endswith("+00:00")


def test_the_instructor_may_show_hidden_results_and_a_json_gradebook(
    graded_class: Path, tmp_path: Path
) -> None:
    done = grade(
        tmp_path, graded_class, "ann",
        "--gradebook", "book.json", "--feedback", "feedback", "--show-hidden",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    ann = (tmp_path / "feedback" / "ann.md").read_text()
    assert f"- ✗ hidden check: {HIDDEN_NAME}" in ann
    assert "your server answered None" in ann
    book = json.loads((tmp_path / "book.json").read_text())
    assert book["roomkit_version"] == "0.1.0"
    (student,) = book["students"]
    assert student["student_id"] == "ann"
    (exercise,) = student["exercises"]
    rows = [
        (test["test"], test["hidden"], test["score"], test["max_score"])
        for test in exercise["tests"]
    ]
    assert rows == [
        ("test_echo_answers_with_the_text", False, 0.75, 0.75),
        ("test_echo_keeps_an_empty_text", True, 0.0, 0.25),
    ]  # fmt: skip


def _result(label: str) -> SubmissionResult:
    exercise = Exercise("9.1", "Echo", "09_demo.ipynb", ("register_echo",), ("h",), "t.py")
    test = TestResult("9.1", "echo", Outcome.PASSED, test_id="t.py::test_echo")
    return SubmissionResult(label, [ExerciseResult(exercise, [test])], 0.1)


def test_a_roster_maps_folders_to_ids_and_names_what_it_lacks(tmp_path: Path) -> None:
    (tmp_path / "roster.csv").write_text("submission,student_id\nann,s001\n")
    roster = Roster.read(tmp_path / "roster.csv")
    assert roster.student(_result("class/ann"))["student_id"] == "s001"
    # A notebook file's submission is its folder.
    assert roster.student(_result("class/ann/09_demo.ipynb"))["student_id"] == "s001"
    with pytest.raises(RosterError, match="the roster lists no submission 'zoe'"):
        roster.student(_result("class/zoe"))
    (tmp_path / "bad.csv").write_text("folder,id\nann,s001\n")
    with pytest.raises(RosterError, match="needs the columns submission and student_id"):
        Roster.read(tmp_path / "bad.csv")


def check_gradescope_results(document: dict[str, Any]) -> None:
    """What Gradescope's specification asks of results.json, and our totals."""
    assert isinstance(document["score"], (int, float))
    assert isinstance(document["execution_time"], (int, float))
    assert document["tests"]
    for test in document["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output", "visibility"}
        assert isinstance(test["name"], str)
        assert isinstance(test["output"], str)
        assert 0 <= test["score"] <= test["max_score"]
        assert test["visibility"] in VISIBILITIES
    assert round(sum(test["score"] for test in document["tests"]), 2) == document["score"]


def test_gradescope_results_for_one_submission(graded_class: Path, tmp_path: Path) -> None:
    done = grade(tmp_path, graded_class, "ann", "--format", "gradescope", "--json", "results.json")
    assert done.returncode == 1, done.stderr
    document = json.loads((tmp_path / "results.json").read_text())
    check_gradescope_results(document)
    assert document["score"] == 0.75
    visible, hidden = document["tests"]
    assert (visible["name"], visible["visibility"], visible["score"]) == (
        "9.1 echo answers with the text", "visible", 0.75
    )  # fmt: skip
    assert (hidden["visibility"], hidden["score"], hidden["max_score"]) == ("hidden", 0, 0.25)
    several = grade(tmp_path, graded_class, "ann", "bob", "--format", "gradescope", "--json", "x")
    assert several.returncode == 2
    assert "--format gradescope grades one submission at a time" in several.stderr


def test_the_autograder_bundle_grades_in_a_simulated_autograder_tree(
    graded_class: Path, tmp_path: Path
) -> None:
    done = roomkit(
        "gradescope-autograder", "autograder.zip", "--root", str(graded_class), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    tree = tmp_path / "autograder"
    with zipfile.ZipFile(tmp_path / "autograder.zip") as bundle:
        names = set(bundle.namelist())
        assert {"setup.sh", "run_autograder", "course/solutions/exercises.toml"} <= names
        assert "course/roomkit/course/grading.py" in names
        assert bundle.getinfo("run_autograder").external_attr >> 16 & 0o111
        bundle.extractall(tree / "source")
    assert (
        "pip install -e '/autograder/source/course[course]'"
        in (tree / "source" / "setup.sh").read_text()
    )
    shutil.copytree(tmp_path / "ann", tree / "submission")
    run = subprocess.run(
        ["bash", str(tree / "source" / "run_autograder")],
        env={**os.environ, "AUTOGRADER": str(tree), "ROOMKIT": f"{sys.executable} -m roomkit"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr
    document = json.loads((tree / "results" / "results.json").read_text())
    check_gradescope_results(document)
    assert document["score"] == 0.75
    assert [test["visibility"] for test in document["tests"]] == ["visible", "hidden"]
