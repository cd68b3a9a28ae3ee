"""What a learner reads: difference sentences, scenario steps, hints, the grade table, check's
answers to a mistyped call. Real servers and clients where a scenario runs."""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat
import pytest
import socketio
from course_builder import REPO

from roomkit.course.check import check
from roomkit.course.compare import Observed, compare
from roomkit.course.failures import ExerciseFailure
from roomkit.course.integrity import hint_tie_problems
from roomkit.course.manifest import ManifestError, load_course
from roomkit.course.reports import chosen_hints, render_check, render_table
from roomkit.course.results import ExerciseResult, Outcome, SubmissionResult, TestResult
from roomkit.course.scenario import Stage
from roomkit.testing import start_server

COURSE = load_course(REPO)


def observed(received: list[tuple[str, object]]) -> Observed:
    return Observed(
        order=["bob"],
        namespaces={"bob": "/chat"},
        refusals={"bob": None},
        received={"bob": received},
        answers={"bob": []},
        steps=["bob connects to /chat"],
    )


def test_an_event_received_twice_is_said_to_be_received_twice() -> None:
    post = ("cross-post", [{"rooms": ["a", "b"], "text": "both"}])
    with pytest.raises(ExerciseFailure) as failure:
        compare(observed([post]), observed([post, post]))
    first = str(failure.value).splitlines()[0]
    assert first == (
        "bob received 'cross-post' [{'rooms': ['a', 'b'], 'text': 'both'}] twice; "
        "the reference sends it once"
    )
    assert "should not have received" not in str(failure.value)


async def test_scenario_steps_show_the_auth_sent_and_names_for_sids() -> None:
    sio = socketio.AsyncServer(async_mode="aiohttp")
    server = await start_server(sio)
    stage = Stage(server.url)
    try:
        await stage.connect("eve", "/")
        await stage.connect("nobody", "/", auth={})
        await stage.connect("root", "/", auth={"token": "t"})
        await stage.emit("eve", "leave room", stage.clients["eve"].sid)
    finally:
        await stage.close()
        await server.stop()
    assert stage.steps == [
        "eve connects to /",
        "nobody connects to / with no auth (the connect handler gets auth=None)",
        "root connects to / with auth {'token': 't'}",
        "eve emits 'leave room' '<eve id>'",
    ]
    with pytest.raises(ExerciseFailure) as failure:
        compare(observed([("x", [])]), observed([]))
    assert "Scenario (a client connects with auth {'name': <its name>} unless shown)" in str(
        failure.value
    )


def failed(exercise_id: str, *tests: str, message: str = "wrong") -> ExerciseResult:
    exercise = COURSE.exercise(exercise_id)
    path = f"tests/exercises/{exercise.tests}"
    return ExerciseResult(
        exercise,
        [
            TestResult(exercise_id, test, Outcome.FAILED, message, test_id=f"{path}::{test}")
            for test in tests
        ],
    )


def test_the_hint_shown_is_the_one_tied_to_the_failing_test() -> None:
    exercise = COURSE.exercise("1.1")
    result = failed("1.1", "test_announcement_reaches_every_chat_client")
    assert chosen_hints(result, 1) == [exercise.hints[2]]
    text = render_check(result, 0.1, hints=1)
    assert f"Hint 3 of 3: {exercise.hints[2]}" in text
    assert "Hint 1 of 3" not in text
    # One more at each failed check, still only hints of failing tests.
    two = failed("1.1", "test_admin_needs_the_token", "test_announcement_reaches_every_chat_client")
    assert chosen_hints(two, 1) == [exercise.hints[1]]
    assert chosen_hints(two, 5) == [exercise.hints[1], exercise.hints[2]]


def test_every_exercise_ties_every_test_to_a_hint() -> None:
    for exercise in COURSE.exercises:
        assert exercise.hint_for, exercise.id
    problems = hint_tie_problems(COURSE.exercise("1.1"), ["test_chat_messages_stay_in_chat"], "x")
    assert "exercise 1.1: hint_for names test_admin_needs_the_token, which x does not define" in (
        problems
    )
    untied = hint_tie_problems(COURSE.exercise("1.1"), ["test_new"], "x")
    assert "exercise 1.1: test_new has no hint in hint_for" in untied[-1]


@pytest.mark.parametrize(
    ("ties", "problem"),
    [("test_a = 3", "hint_for must map"), ("a_test = 1", "hint_for must map")],
)
def test_hint_ties_are_checked(tmp_path: Path, ties: str, problem: str) -> None:
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "exercises.toml").write_text(
        '[[exercises]]\nid = "1.1"\ntitle = "T"\nnotebook = "01_t.ipynb"\ndefines = ["f"]\n'
        f'hints = ["one", "two"]\ntests = "test_1_1_t.py"\n\n[exercises.hint_for]\n{ties}\n'
    )
    with pytest.raises(ManifestError, match=problem):
        load_course(tmp_path)


def test_the_grade_table_shows_the_exception_behind_a_failure() -> None:
    message = (
        "ann's 'hello' 'Ann' should be answered 'hello, Ann!' (as with the reference); "
        "your server did not answer within 1 s\n"
        "Scenario (...): ann connects to /; ann emits 'hello' 'Ann' (with ack)\n"
        "Your server, handling 'hello' on /, raised NameError: name 'GREETING' is not defined\n"
        "    00_start_here.ipynb, cell 7, line 4, in hello: return GREETING + name"
    )
    result = failed("0.1", "test_everyone_else_hears_who_arrived", message=message)
    table = render_table(SubmissionResult("ada", [result], 0.5))
    assert "did not answer within 1 s" in table
    assert "Your server, handling 'hello' on /, raised NameError: name 'GREETING'" in table
    assert "00_start_here.ipynb, cell 7, line 4, in hello" in table
    # The hint under it is the failing test's.
    assert f"hint: {COURSE.exercise('0.1').hints[1]}" in table


async def test_check_with_a_number_asks_for_a_string(capsys: pytest.CaptureFixture[str]) -> None:
    report = await check(2.1, namespace={})  # type: ignore[arg-type]
    assert report.text == 'check: write the exercise id as a string in quotes: await check("2.1")'
    assert "no exercise" not in capsys.readouterr().out


def test_check_without_await_says_how_to_run_it() -> None:
    pending = check("0.1", namespace={})
    assert repr(pending) == (
        'check("0.1") has not run: write await check("0.1"), with await, to run it'
    )


@pytest.mark.notebooks
def test_a_check_shown_without_await_in_a_kernel_says_how_to_run_it() -> None:
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell('from roomkit.check import check\ncheck("0.1")'),
            nbformat.v4.new_code_cell("await check(2.1)"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    client = nbclient.NotebookClient(
        notebook,
        timeout=60,
        kernel_name="python3",
        resources={"metadata": {"path": str(REPO / "notebooks")}},
    )
    client.execute()
    shown = notebook.cells[0].outputs[0]["data"]["text/plain"]
    assert 'write await check("0.1"), with await, to run it' in shown
    printed = "".join(output.get("text", "") for output in notebook.cells[1].outputs)
    assert 'in quotes: await check("2.1")' in printed
