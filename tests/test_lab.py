"""``make lab``: the JupyterLab terminal finds ``roomkit`` (notebook 00 says ``roomkit grade``).

The test starts JupyterLab with ``make lab`` from an environment where the venv
is not on PATH (a learner who never activated it), opens a terminal through
JupyterLab's own API and websocket, as the Terminal tab does, and runs the command there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from roomkit.processes import free_port

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
STARTUP_TIMEOUT = 120.0  # make lab first checks the venv is up to date
ANSWER_TIMEOUT = 30.0


def learners_environment() -> dict[str, str]:
    """This environment without the venv: neither on PATH nor as VIRTUAL_ENV."""
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if Path(entry).resolve() != VENV_BIN.resolve()
    )
    return env


def tail(log: Path) -> str:
    return log.read_text()[-3000:]


@contextlib.asynccontextmanager
async def make_lab(log: Path) -> AsyncIterator[str]:
    """Run ``make lab`` on a free port; yield its URL with the token once it answers."""
    port, token = free_port(), secrets.token_hex(16)
    lab_args = f"--no-browser --port={port} --IdentityProvider.token={token}"
    with log.open("w") as output:
        process = await asyncio.create_subprocess_exec(
            *["make", "-s", "lab", f"LAB_ARGS={lab_args}"],
            cwd=REPO,
            env=learners_environment(),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: make, jupyter and the shells
        )
    try:
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT
            while True:
                assert process.returncode is None, tail(log)
                assert asyncio.get_running_loop().time() < deadline, tail(log)
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{url}/api/status", params={"token": token}) as status:
                        if status.status == 200:
                            break
                await asyncio.sleep(0.2)  # polling a server that is starting up
        yield f"{url}?token={token}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except asyncio.TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            await asyncio.wait_for(process.wait(), 15)


async def run_in_lab_terminal(url_with_token: str, command: str) -> str:
    """Open a Lab terminal, run ``command`` in it, return what the terminal showed."""
    base, _, query = url_with_token.partition("?")
    token = query.removeprefix("token=")
    marker = "roomkit-done"
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/api/terminals", params={"token": token}) as created:
            assert created.status == 200, await created.text()
            name = (await created.json())["name"]
        socket_url = f"{base.replace('http', 'ws', 1)}/terminals/websocket/{name}"
        async with session.ws_connect(socket_url, params={"token": token}) as terminal:
            # The marker is echoed with the command; the shell prints it joined.
            await terminal.send_json(["stdin", f"{command}; echo roomkit-''done\r"])

            async def read_until_done() -> str:
                shown = ""
                while marker not in shown:
                    message = await terminal.receive_json()
                    if message[0] == "stdout":
                        shown += message[1]
                return shown

            return await asyncio.wait_for(read_until_done(), ANSWER_TIMEOUT)


async def test_roomkit_grade_works_in_the_lab_terminal(tmp_path: Path) -> None:
    async with make_lab(tmp_path / "lab.log") as url:
        shown = await run_in_lab_terminal(url, "command -v roomkit; roomkit grade --help")
    assert f"{VENV_BIN}/roomkit" in shown, shown
    assert "usage: roomkit grade" in shown, shown
