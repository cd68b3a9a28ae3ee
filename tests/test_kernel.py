"""The learner's runtime, through a real Jupyter kernel: interrupting a cell is safe,
a try-it cell shows the handler's exception, a blocking handler fails its check in time."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.kernel import Kernel, running_kernel

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.notebooks


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    with running_kernel(REPO / "notebooks") as running:
        yield running


LIVE_SERVER_CELL = """\
import asyncio, socket
from roomkit.testing import serve, connect
async with serve() as server:
    alice = await connect(server.url, "alice")
    print("listening on", server.port, flush=True)
    await asyncio.sleep(30)
"""


def test_interrupting_a_cell_with_a_live_server_leaves_a_working_kernel(kernel: Kernel) -> None:
    interrupted = kernel.run(LIVE_SERVER_CELL, timeout=25, interrupt_on="listening on")
    assert "listening on" in interrupted.output
    assert interrupted.finished, "the interrupted cell never ended"
    assert interrupted.seconds < 20, "the interrupt waited for the 30 s sleep"
    assert interrupted.errors in (["CancelledError"], ["KeyboardInterrupt"])
    # The next cell runs, and serve() closed the port on its way out.
    after = kernel.run(
        "probe = socket.socket()\n"
        "print('stopped' if server.stopped else 'running', probe.connect_ex(('127.0.0.1', "
        "server.port)) != 0)\n"
        "probe.close()",
        timeout=10,
    )
    assert kernel.alive(), "the kernel died after the interrupt"
    assert after.finished
    assert after.error is None, after.traceback
    assert after.output.strip() == "stopped True"


TYPO_CELL = """\
import socketio
sio = socketio.AsyncServer(async_mode="aiohttp")

@sio.on("join room", namespace="/chat")
async def join_room(sid, room):
    await sio.enter_room(sid, room, namespace="/chat")
    return {"ok": True, "room": rooom}
"""

TRY_IT_CELL = """\
from roomkit.testing import serve, connect, transcript
async with serve(sio) as server:
    alice = await connect(server.url, "alice")
    try:
        await alice.call("join room", "general", timeout=1)
    finally:
        print(transcript(alice))
"""


def test_a_try_it_cell_shows_the_handlers_exception_and_its_cell_and_line(
    kernel: Kernel,
) -> None:
    defined = kernel.run(TYPO_CELL, timeout=20)
    assert defined.error is None, defined.traceback
    tried = kernel.run(TRY_IT_CELL, timeout=20)
    assert tried.error == "WaitTimeout"
    where = 'cell In[1], line 7, in join_room: return {"ok": True, "room": rooom}'
    # In the exception the cell shows...
    assert "alice got no answer to 'join room' within 1 s; the server, handling 'join room'" in (
        tried.traceback
    )
    assert "raised NameError: name 'rooom' is not defined" in tried.traceback
    assert where in tried.traceback
    # ...and in the transcript it printed.
    assert "alice  !! the server, handling 'join room' on /chat, raised NameError" in tried.output
    assert where in tried.output


def blocking_greeter(body: str) -> str:
    """A cell defining exercise 0.1's ``register_greeter`` whose handler runs ``body``."""
    return (
        "import time\n"
        "def register_greeter(sio):\n"
        '    @sio.on("hello")\n'
        "    async def hello(sid, name):\n"
        f"        {body}\n"
        '        return f"Hello, {name}!"\n'
    )


def test_a_busy_handler_fails_its_check_in_time_and_the_next_check_runs(kernel: Kernel) -> None:
    assert kernel.run("from roomkit.check import check", timeout=30).error is None
    assert kernel.run(blocking_greeter("while True: pass"), timeout=10).error is None
    for attempt in range(2):  # the second check is not refused by a still-spinning first one
        checked = kernel.run('report = await check("0.1")\nprint(report.seconds)', timeout=40)
        assert checked.error is None, checked.traceback
        assert "your code blocked the event loop for" in checked.output, (attempt, checked.output)
        assert "cell In[2], line 5, in hello: while True: pass" in checked.output
        assert "earlier check is still running" not in checked.output
        seconds = float(checked.output.strip().splitlines()[-1])
        assert seconds < 15.0, "the diagnosis came after the test's own time limit"


def test_a_handler_that_sleeps_two_seconds_is_flagged(kernel: Kernel) -> None:
    assert kernel.run("from roomkit.check import check", timeout=30).error is None
    assert kernel.run(blocking_greeter("time.sleep(2)"), timeout=10).error is None
    checked = kernel.run('report = await check("0.1")', timeout=40)
    assert checked.error is None, checked.traceback
    assert "your code blocked the event loop for" in checked.output
    assert "cell In[2], line 5, in hello: time.sleep(2)" in checked.output
    assert kernel.run("print(report.passed)", timeout=5).output.strip() == "False"


IDLE_AWAIT_CELL = """\
import asyncio, threading, time
threading.Timer(0.5, print, args=("waiting",), kwargs={"flush": True}).start()
await asyncio.to_thread(time.sleep, 20)
"""


def test_the_stop_button_reaches_a_cell_whose_loop_is_idle(kernel: Kernel) -> None:
    # The interrupt comes while the kernel's loop sleeps with nothing to do: ipykernel's
    # queued cancel then waited for the 20 s thread (roomkit.course.interrupts).
    assert kernel.run("from roomkit.check import check", timeout=30).error is None
    interrupted = kernel.run(IDLE_AWAIT_CELL, timeout=40, interrupt_on="waiting")
    assert "waiting" in interrupted.output
    assert interrupted.errors == ["CancelledError"], interrupted.output
    assert interrupted.seconds < 12, "the interrupt waited for the cell to end"


def printed_by(code: str) -> list[str]:
    """What ``code`` prints, word by word, run by this interpreter in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_a_loop_that_already_wakes_on_signals_keeps_its_own_wakeup() -> None:
    # asyncio's add_signal_handler owns the wakeup fd: taking it would silence that handler.
    code = (
        "import asyncio, signal\n"
        "from roomkit.course.interrupts import wake_loop_on_signals\n"
        "async def main():\n"
        "    loop = asyncio.get_running_loop()\n"
        "    got = asyncio.Event()\n"
        "    loop.add_signal_handler(signal.SIGUSR1, got.set)\n"
        "    print(wake_loop_on_signals(loop))\n"
        "    signal.raise_signal(signal.SIGUSR1)\n"
        "    await asyncio.wait_for(got.wait(), 10)\n"
        "    loop.remove_signal_handler(signal.SIGUSR1)\n"
        "    print(wake_loop_on_signals(loop))\n"
        "asyncio.run(main())\n"
    )
    assert printed_by(code) == ["False", "True"]


def test_a_loop_that_cannot_watch_sockets_is_left_as_it_was() -> None:
    code = (
        "import asyncio, signal\n"
        "from roomkit.course.interrupts import wake_loop_on_signals\n"
        "class NoReaders(asyncio.SelectorEventLoop):\n"
        "    def add_reader(self, *args):\n"
        "        raise NotImplementedError\n"
        "loop = NoReaders()\n"
        "print(wake_loop_on_signals(loop), signal.set_wakeup_fd(-1))\n"
        "loop.close()\n"
    )
    assert printed_by(code) == ["False", "-1"]  # no wakeup fd left behind


def test_interrupting_a_check_prints_a_line_and_the_next_check_runs(kernel: Kernel) -> None:
    assert kernel.run("from roomkit.check import check", timeout=30).error is None
    # Long enough that an interrupt sent late (a busy machine) still finds the check running.
    assert kernel.run(blocking_greeter("time.sleep(3)"), timeout=10).error is None
    interrupted = kernel.run(
        'print("checking", flush=True)\nawait check("0.1")', timeout=40, interrupt_on="checking"
    )
    assert interrupted.error is None, interrupted.traceback  # no raw CancelledError
    assert "Exercise 0.1: check interrupted." in interrupted.output
    fixed = (  # the reference's register_greeter, as if the learner had fixed theirs
        "from roomkit.course.implementations import reference\n"
        "from roomkit.course.manifest import load_course\n"
        "course = load_course()\n"
        'register_greeter = reference(course, course.exercise("0.1")).register_greeter'
    )
    assert kernel.run(fixed, timeout=10).error is None
    checked = kernel.run('report = await check("0.1")\nprint(report.passed)', timeout=40)
    assert checked.error is None, checked.traceback
    assert checked.output.strip().endswith("True"), checked.output


def test_loading_a_learners_notebook_does_not_import_nbformat() -> None:
    # nbformat's import alone costs a cold check more than a second (docs/benchmarks.md).
    code = (
        "import sys\n"
        "from roomkit.course.grading import run_tests\n"
        "from roomkit.course.implementations import reference\n"
        "from roomkit.course.manifest import load_course\n"
        "course = load_course()\n"
        "assert reference(course, course.exercise('2.1')).problem is None\n"
        "print('nbformat' in sys.modules)"
    )
    assert printed_by(code) == ["False"]


def test_await_progress_in_a_notebook_lists_the_saved_notebooks(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copy(REPO / "solutions" / "00_start_here.ipynb", folder)
    with running_kernel(folder) as kernel:
        shown = kernel.run("from roomkit.check import progress\nawait progress()", timeout=120)
    assert shown.error is None, shown.traceback
    lines = shown.output.strip().splitlines()
    assert lines[0].startswith(f"Progress in {folder} (saved notebooks): 1 of 17 exercises passed")
    assert lines[1].startswith("  ✓ 0.1  Say hello")
    assert lines[2].endswith("  not started")
    assert shown.output.count("Progress in") == 1  # printed, and not displayed again


def test_running_notebook_05s_server_cell_twice_leaves_no_server_behind() -> None:
    cells = json.loads((REPO / "notebooks" / "05_metadata_presence.ipynb").read_text())["cells"]
    sources = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    setup = next(source for source in sources if "from roomkit.check import" in source)
    starts = next(n for n, source in enumerate(sources) if "await start_server(" in source)
    cleans_up = next(n for n, source in enumerate(sources) if "await server.stop()" in source)
    # The learner runs the server cell, runs it again, then the cells down to the clean-up.
    run = [setup, sources[starts], "first = server", *sources[starts : cleans_up + 1]]
    with running_kernel(REPO / "notebooks") as kernel:
        for source in run:
            ran = kernel.run(source, timeout=30)
            assert ran.error is None, ran.traceback
        probe = kernel.run(
            "import socket\n"
            "for each in (first, server):\n"
            "    with socket.socket() as probe:\n"
            "        print(each.port, probe.connect_ex(('127.0.0.1', each.port)) != 0)",
            timeout=10,
        )
    lines = probe.output.strip().splitlines()
    assert len(lines) == 2
    assert all(line.endswith(" True") for line in lines), "a server still listens: " + probe.output
