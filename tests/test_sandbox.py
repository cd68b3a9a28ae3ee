"""Sealed grading with a real bubblewrap: what a submission's code cannot read, write or
reach, and what it cannot do to the grader or to other submissions.

The file attacks answer ``echo`` right only when the attack worked, so a passing
echo test means the attack succeeded: sealed it must fail, and in the grading
process (``sandbox="off"``) it passes, which proves each probe is real.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import nbformat
import pytest
from course_builder import REPO, make_course, solution_notebook
from sandbox_support import (
    CONTROL_FD,
    NEEDS_BWRAP,
    SOLVED,
    TESTS,
    echo_passes,
    make_sealed_course,
    outcomes,
    probe,
    submission,
)

from roomkit.course.authoring import build
from roomkit.course.grading import grade
from roomkit.course.manifest import Course, load_course
from roomkit.course.results import Outcome

pytestmark = NEEDS_BWRAP


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Course:
    return make_sealed_course(tmp_path_factory.mktemp("sealed") / "course")


def test_the_honest_solution_passes_sealed(course: Course, tmp_path: Path) -> None:
    path = submission(tmp_path / "ann", course, SOLVED.replace("PREFIX + ", ""))
    result = grade(course, path, sandbox="require")
    assert {outcome for outcome, _ in outcomes(result).values()} == {Outcome.PASSED}


@pytest.mark.parametrize(
    "target",
    ["the solutions", "another submission", "a file of the grader's"],
)
def test_the_candidate_cannot_read_what_is_not_its_own(
    course: Course, tmp_path: Path, target: str
) -> None:
    other = submission(tmp_path / "bob", course, SOLVED)
    secret = tmp_path / "grader-secret.txt"
    secret.write_text("the grader's")
    path = {
        "the solutions": course.solutions_dir / "09_demo.ipynb",
        "another submission": other,
        "a file of the grader's": secret,
    }[target]
    cell = probe(f"open({str(path)!r}).read()")
    learner = submission(tmp_path / "mallory", course, cell)
    assert echo_passes(grade(course, learner, sandbox="off")), "the probe itself is broken"
    assert not echo_passes(grade(course, learner, sandbox="require"))


def test_the_candidate_cannot_change_the_course(course: Course, tmp_path: Path) -> None:
    test_module = course.tests_dir / "test_9_1_echo.py"
    before = test_module.read_bytes()
    # Opening for appending changes no byte, even where it succeeds.
    cell = probe(f"open({str(test_module)!r}, 'a').close()")
    learner = submission(tmp_path / "mallory", course, cell)
    assert echo_passes(grade(course, learner, sandbox="off")), "the probe itself is broken"
    assert not echo_passes(grade(course, learner, sandbox="require"))
    assert test_module.read_bytes() == before


def test_the_candidate_cannot_reach_the_graders_loopback(course: Course, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]
        cell = probe(f"socket.create_connection(('127.0.0.1', {port}), timeout=2).close()")
        learner = submission(tmp_path / "mallory", course, cell)
        assert echo_passes(grade(course, learner, sandbox="off")), "the probe itself is broken"
        assert not echo_passes(grade(course, learner, sandbox="require"))


def test_the_courses_reference_passes_sealed_with_closures_and_clusters() -> None:
    # 2.1 watches disconnects (what clients see as they leave is not observed); 4.1
    # ships its test's `install` as a closure (installer(token)); 6.1 builds a
    # cluster around a redis-server started inside the sandbox.
    course = load_course(REPO)
    chosen = [course.exercise(exercise_id) for exercise_id in ("2.1", "4.1", "6.1")]
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    result = grade(course, course.solutions_dir, exercises=chosen, sandbox="require")
    assert [exercise.passed for exercise in result.exercises] == [True, True, True]
    assert all(exercise.results for exercise in result.exercises)


def test_a_test_that_reaches_for_the_learners_names_is_reported_broken(tmp_path: Path) -> None:
    direct = (
        '"""Exercise 9.1, tested by calling the learner\'s function in the grader."""\n\n'
        'EXERCISE = "9.1"\n\n\n'
        "def test_register_echo_is_callable(impl, reference):\n"
        '    """register_echo is callable"""\n'
        "    assert callable(impl.register_echo)\n"
    )
    course = make_course(tmp_path / "course", tests=direct)
    build(course)
    result = grade(course, course.solutions_dir / "09_demo.ipynb", sandbox="require")
    (outcome, message) = outcomes(result)["register_echo is callable"]
    assert outcome is Outcome.FAILED
    assert message.startswith(
        "this test is broken, tell your instructor: register_echo lives in the submission's "
        "own process under sealed grading"
    )


@pytest.mark.parametrize(
    "attack",
    [
        f"os.write({CONTROL_FD}, b'x' * (20 << 20))",
        f"os.write({CONTROL_FD}, b'{{\"ok\": true}}\\n' * 50)",
    ],
    ids=["floods the channel", "forges answers"],
)
def test_writing_on_the_graders_channel_earns_nothing(
    course: Course, tmp_path: Path, attack: str
) -> None:
    cell = f"import os, sys\n{attack}\n\n" + SOLVED.replace("PREFIX + text", "text.upper()")
    learner = submission(tmp_path / "mallory", course, cell)
    result = outcomes(grade(course, learner, sandbox="require"))
    assert Outcome.PASSED not in {outcome for outcome, _ in result.values()}
    if "20 << 20" in attack:  # the grader stopped reading, and says why
        assert all("the grader's channel" in message for _, message in result.values())


def test_one_submission_leaves_nothing_for_the_next(course: Course, tmp_path: Path) -> None:
    # /tmp is where two submissions graded one after the other could meet.
    note = Path("/tmp") / f"roomkit-sandbox-test-{os.getpid()}-{tmp_path.name}"
    writer = submission(tmp_path / "mallory", course, f"open({str(note)!r}, 'w').write('hi')")
    reader = submission(tmp_path / "bob", course, probe(f"open({str(note)!r}).read()"))
    try:
        grade(course, writer, sandbox="off")
        assert echo_passes(grade(course, reader, sandbox="off")), "the probe itself is broken"
        note.unlink()
        grade(course, writer, sandbox="require")
        assert not note.exists()
        assert not echo_passes(grade(course, reader, sandbox="require"))
    finally:
        note.unlink(missing_ok=True)


def test_a_course_reached_through_a_symlink_grades_sealed(tmp_path: Path) -> None:
    real = make_course(tmp_path / "real", tests=TESTS)
    nbformat.write(solution_notebook(SOLVED), real.solutions_dir / "09_demo.ipynb")
    build(real)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    course = load_course(tmp_path / "link")
    result = grade(course, course.solutions_dir / "09_demo.ipynb", sandbox="require")
    assert {outcome for outcome, _ in outcomes(result).values()} == {Outcome.PASSED}
