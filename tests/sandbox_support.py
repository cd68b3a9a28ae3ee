"""Shared by the sealed-grading tests: a one-exercise course whose learner cells attack.

Exercise 9.1 defines ``register_echo``, which answers ``echo`` and ``poke``. The
file attacks (:func:`probe`) answer ``echo`` right only when the attack worked;
the misbehaving handlers (:func:`misbehaving`) misbehave on ``poke``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
import pytest
from course_builder import make_course, solution_notebook

from roomkit.course.authoring import build
from roomkit.course.manifest import Course
from roomkit.course.results import Outcome, SubmissionResult
from roomkit.course.sandbox import find_bwrap

__all__ = [
    "CONTROL_FD",
    "MISBEHAVES",
    "NEEDS_BWRAP",
    "PROBE",
    "SOLVED",
    "TESTS",
    "echo_passes",
    "make_sealed_course",
    "misbehaving",
    "outcomes",
    "probe",
    "submission",
]

NEEDS_BWRAP = pytest.mark.skipif(find_bwrap() is None, reason="needs a working bubblewrap")

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


# The host's end of the grader's channel, as a learner's cell can find it.
CONTROL_FD = "int(next(a for a in sys.argv if a.startswith('--control-fd=')).split('=')[1])"


def make_sealed_course(root: Path) -> Course:
    """The one-exercise course with :data:`SOLVED` as reference and :data:`TESTS`, built."""
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
