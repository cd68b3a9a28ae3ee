"""``await check(...)`` in a real Jupyter kernel: fast feedback that prints and never raises."""

from __future__ import annotations

import nbclient
import nbformat
import pytest
from course_builder import REPO

pytestmark = pytest.mark.notebooks

CELLS = [
    """import socketio
from roomkit.check import check
from roomkit.testing import connect, start_server""",
    # A wrong solution: the sender hears its own arrival.
    """def register_greeter(sio):
    @sio.on("hello")
    async def hello(sid, name):
        await sio.emit("arrived", name)
        return f"hello, {name}!"
""",
    'first = await check("0.1")\nprint("FIRST", first.passed, first.failed)',
    # The learner's own server, left running on the kernel's loop across cells.
    """sio = socketio.AsyncServer(async_mode="aiohttp")
register_greeter(sio)
server = await start_server(sio)
me = await connect(server.url, "me", namespace="/")""",
    """def register_greeter(sio):
    @sio.on("hello")
    async def hello(sid, name):
        await sio.emit("arrived", name, skip_sid=sid)
        return f"hello, {name}!"

second = await check("0.1")
print("SECOND", second.passed)
print("ANSWER", await me.call("hello", "Me"))""",
    'third = await check("0.1")\nprint(f"WARM {third.seconds:.3f} s")',
    'await check("7.7")\nawait check("0.1", namespace={})',
    "await me.disconnect()\nawait server.stop()",
]


def test_check_in_a_kernel_reports_by_printing_and_sees_redefinitions() -> None:
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in CELLS],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(REPO / "notebooks")}},
    )
    client.execute()  # raises CellExecutionError if any cell raised
    printed = [
        "".join(output.get("text", "") for output in cell.outputs) for cell in notebook.cells
    ]
    first, second, warm, odd = printed[2], printed[4], printed[5], printed[6]
    assert "✗ everyone else hears who arrived, the sender does not" in first
    assert "should not have received 'arrived' ['Ben'] (the reference does not send it)" in first
    assert "Hint 1 of 2:" in first
    assert "FIRST False 2" in first
    assert "All 2 checks passed" in second
    assert "SECOND True" in second
    assert "ANSWER hello, Me!" in second  # the kernel's own server kept serving
    assert "All 2 checks passed" in warm
    print(warm.strip().splitlines()[-1])  # the warm check's time, for the record (-s shows it)
    assert "check: no exercise '7.7' in the course" in odd
    assert "your notebook does not define register_greeter yet" in odd
