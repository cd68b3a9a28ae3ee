"""Sealed grading with a real bubblewrap: what a submission's code cannot do, and the
verdicts it gets when it exits, forks, spins, blocks or eats memory.

Each attack is an exercise cell of a one-exercise course (``register_echo`` and
``poke``). The file attacks answer ``echo`` correctly only when the attack
worked, so a passing echo test means the attack succeeded: sealed it must fail,
and in the grading process (``sandbox="off"``) it passes, which proves each
probe is real.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import nbformat
import pytest
from course_builder import REPO, make_course, solution_notebook

from roomkit.course.authoring import build
from roomkit.course.failures import ExerciseFailure
from roomkit.course.grading import grade, run_tests
from roomkit.course.implementations import CellCode, from_notebook
from roomkit.course.manifest import Course, load_course
from roomkit.course.remote import CandidateHost, RemoteImplementation
from roomkit.course.results import Outcome, SubmissionResult
from roomkit.course.sandbox import Limits, find_bwrap

ROOMKIT_GRADE = [sys.executable, "-m", "roomkit", "grade"]

pytestmark = pytest.mark.skipif(find_bwrap() is None, reason="needs a working bubblewrap")

SOLVED = '''def register_echo(sio: socketio.AsyncServer) -> None:
    """Answer "echo" with its text, and "poke" with "poked"."""
    ### BEGIN SOLUTION
    @sio.on("echo")
    async def echo(sid: str, text: str) -> str:
        return PREFIX + text

    @sio.on("poke")
    async def poke(sid: str) -> str:
        return "poked"
    ### END SOLUTION'''

TESTS = '''"""Exercise 9.1: poke, then echo."""

from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import Stage

EXERCISE = "9.1"


def install(implementation, sio):
    implementation.register_echo(sio)


async def test_poke_answers_poked(impl, reference):
    """poke answers poked"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("ann")
        await stage.call("ann", "poke")

    await check_against_reference(impl, reference, install, scenario, timeout=3)


async def test_echo_answers_with_the_text(impl, reference):
    """echo answers with the text"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("ann")
        await stage.call("ann", "echo", "hi")

    await check_against_reference(impl, reference, install, scenario)
'''

# A cell whose echo is right only when ``ATTACK`` (a statement) ran without raising.
PROBE = """
import os, socket

def _attack():
    try:
{attack}
    except Exception:
        return False
    return True

WORKED = _attack()

def register_echo(sio):
    @sio.on("echo")
    async def echo(sid, text):
        return text if WORKED else "the attack failed"

    @sio.on("poke")
    async def poke(sid):
        return "poked"
"""

# A cell whose echo is right and whose poke misbehaves with ``POKE`` (statements).
MISBEHAVES = """
import os, sys, time

def register_echo(sio):
    @sio.on("echo")
    async def echo(sid, text):
        return text

    @sio.on("poke")
    async def poke(sid):
{poke}
        return "poked"
"""


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Course:
    root = tmp_path_factory.mktemp("sealed") / "course"
    course = make_course(root, tests=TESTS)
    nbformat.write(solution_notebook(SOLVED), course.solutions_dir / "09_demo.ipynb")
    build(course)
    return course


def submission(folder: Path, course: Course, cell: str) -> Path:
    """``folder/09_demo.ipynb``: the learner's notebook with exercise 9.1's cell replaced."""
    notebook = nbformat.read(course.notebooks_dir / "09_demo.ipynb", as_version=4)
    notebook.cells[3].source = cell
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "09_demo.ipynb"
    nbformat.write(notebook, path)
    return path


def outcomes(result: SubmissionResult) -> dict[str, tuple[Outcome, str]]:
    (exercise,) = result.exercises
    return {test.name: (test.outcome, test.message) for test in exercise.results}


def echo_passes(result: SubmissionResult) -> bool:
    outcome, _ = outcomes(result)["echo answers with the text"]
    return outcome is Outcome.PASSED


def probe(attack: str) -> str:
    return PROBE.format(attack=textwrap.indent(attack, " " * 8))


def misbehaving(poke: str) -> str:
    return MISBEHAVES.format(poke=textwrap.indent(poke, " " * 8))


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


def test_exiting_while_loading_is_said_and_grading_goes_on(course: Course, tmp_path: Path) -> None:
    learner = submission(tmp_path / "mallory", course, "import os\nos._exit(0)")
    result = grade(course, learner, sandbox="require")
    for outcome, message in outcomes(result).values():
        assert outcome is Outcome.FAILED
        assert message.startswith("exercise 9.1: your code's process exited with status 0")
        assert message.endswith("while loading")


@pytest.mark.parametrize(
    ("poke", "verdict"),
    [
        ("os._exit(0)", "your code's process exited with status 0 (did your code call os._exit()"),
        ("sys.exit(3)", "your code's process exited with status 3"),
        ("kept = bytearray(3 << 30)", "raised MemoryError"),
        ("while True:\n    os.fork()", ""),
    ],
    ids=["os._exit", "sys.exit", "memory hog", "fork bomb"],
)
def test_a_misbehaving_handler_fails_its_test_and_the_next_test_still_runs(
    course: Course, tmp_path: Path, poke: str, verdict: str
) -> None:
    learner = submission(tmp_path / "mallory", course, misbehaving(poke))
    result = outcomes(grade(course, learner, sandbox="require"))
    outcome, message = result["poke answers poked"]
    assert outcome is not Outcome.PASSED
    assert verdict in message
    assert result["echo answers with the text"] == (Outcome.PASSED, "")


@pytest.mark.parametrize(
    "poke", ["time.sleep(60)", "while True:\n    pass"], ids=["blocks", "spins"]
)
def test_a_blocking_handler_costs_the_tests_limit(
    course: Course, tmp_path: Path, poke: str
) -> None:
    learner = submission(tmp_path / "mallory", course, misbehaving(poke))
    result = outcomes(grade(course, learner, sandbox="require"))
    outcome, message = result["poke answers poked"]
    assert outcome is Outcome.TIMED_OUT
    assert message.startswith(
        "timed out: the scenario did not finish within 3 s against your server (is a handler "
        "blocking the event loop"
    )
    assert result["echo answers with the text"] == (Outcome.PASSED, "")


def test_the_courses_warning_filters_do_not_fail_the_learners_code(
    course: Course, tmp_path: Path
) -> None:
    # "\w" in a string compiles with a DeprecationWarning; `await check` passes it.
    (course.root / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n'
    )
    try:
        cell = 'PATTERN = "\\w+"\n\n' + SOLVED.replace("PREFIX + ", "")
        learner = submission(tmp_path / "ann", course, cell)
        for sandbox in ("off", "require"):
            # As in `roomkit grade`: none of this test run's own filters (filterwarnings
            # = error in this repository's pyproject.toml too).
            with warnings.catch_warnings():
                warnings.resetwarnings()
                result = grade(course, learner, sandbox=sandbox)  # type: ignore[arg-type]
            assert set(outcomes(result).values()) == {(Outcome.PASSED, "")}, sandbox
    finally:
        (course.root / "pyproject.toml").unlink()


def test_require_refuses_without_bubblewrap_and_auto_warns_once(tmp_path: Path) -> None:
    no_bwrap = tmp_path / "bin"
    no_bwrap.mkdir()
    script = (
        "from roomkit.course.sandbox import SandboxUnavailable, resolve\n"
        "print(resolve('auto'), resolve('auto'))\n"
        "try:\n    resolve('require')\n"
        "except SandboxUnavailable as error:\n    print('refused:', error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PATH": str(no_bwrap)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines()[0] == "False False"
    assert done.stdout.splitlines()[1].startswith("refused: sealed grading needs bubblewrap")
    assert done.stderr.count("warning: bubblewrap (bwrap) is not available") == 1


def test_grade_require_sandbox_refuses_without_bubblewrap(course: Course, tmp_path: Path) -> None:
    learner = submission(tmp_path / "ann", course, SOLVED)
    no_bwrap = tmp_path / "bin"
    no_bwrap.mkdir()
    done = subprocess.run(
        [*ROOMKIT_GRADE, "--require-sandbox", "--root", str(course.root), str(learner)],
        env={**os.environ, "PATH": str(no_bwrap)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "roomkit grade: sealed grading needs bubblewrap" in done.stderr


@pytest.mark.parametrize(
    "cell",
    [
        SOLVED.replace("PREFIX + text", "text.upper()"),
        SOLVED.replace("PREFIX + text", "{'text': text}['txet']"),
        SOLVED.replace("PREFIX + ", ""),
    ],
    ids=["wrong answer", "raises", "right"],
)
def test_check_in_a_kernel_and_sealed_grading_agree(
    course: Course, tmp_path: Path, cell: str
) -> None:
    learner = submission(tmp_path / "ann", course, cell)
    (exercise,) = course.exercises
    # What `await check("9.1")` runs: the kernel's names, tested in a worker thread.
    names = from_notebook(learner, exercise).names
    with concurrent.futures.ThreadPoolExecutor(1) as worker:
        checked = worker.submit(run_tests, course, [exercise], names, in_thread=True).result()
    graded = grade(course, learner, sandbox="require")
    assert [(t.name, t.outcome, t.message) for t in checked[0].results] == [
        (t.name, t.outcome, t.message) for t in graded.exercises[0].results
    ]


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


def test_a_cell_that_never_finishes_loading_times_out(course: Course, tmp_path: Path) -> None:
    learner = submission(tmp_path / "mallory", course, "import time\ntime.sleep(600)")
    result = grade(course, learner, sandbox="require")
    for outcome, message in outcomes(result).values():
        assert outcome is Outcome.TIMED_OUT
        assert message == (
            "exercise 9.1: timed out: loading your exercise cells did not finish within 10 s "
            "(a loop or a sleep that never ends?)"
        )


def test_a_host_over_its_cpu_time_is_killed_and_said_to_be(course: Course) -> None:
    (exercise,) = course.exercises
    host = CandidateHost([], sealed=True, limits=Limits(cpu_seconds=1))
    spinning = CellCode(1, "<spin.ipynb, cell 1>", "while True:\n    pass")
    implementation = RemoteImplementation(
        "spin.ipynb", exercise, host=host, cells=[spinning], notebook="spin.ipynb"
    )
    try:
        with pytest.raises(ExerciseFailure) as failure:
            implementation.load()
    finally:
        host.close()
    assert str(failure.value) == (
        "exercise 9.1: your code's process was killed: it used up its CPU time (a busy loop?) "
        "(signal SIGXCPU) while loading"
    )


CONTROL_FD = "int(next(a for a in sys.argv if a.startswith('--control-fd=')).split('=')[1])"


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
