"""`roomkit serve` as a real process, driven by the official JavaScript client."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from serve_support import Served, serving

from roomkit.processes import SERVING_LINE

REPO = Path(__file__).resolve().parent.parent
TOKEN = "interop-admin-token"


async def stop(served: Served) -> tuple[int | None, str]:
    """Ctrl-C, then what it printed and logged."""
    code = await served.end(signal.SIGINT)
    return code, served.output()


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async with serving(admin_token=TOKEN, log_level="INFO", capture_stderr=True) as server:
        yield server


async def test_generated_token_is_printed_when_none_is_set() -> None:
    async with serving(admin_token=None, log_level="INFO", capture_stderr=True) as server:
        code, _ = await stop(server)
    # The serving line is printed once the port is open, the token right after it.
    ready = next(i for i, line in enumerate(server.lines) if SERVING_LINE in line)
    banner = server.lines[ready : ready + 2]
    assert code == 0
    assert "serving on" in banner[0]
    token_line = banner[1]
    assert token_line.startswith("admin token")
    assert len(token_line.split(": ", 1)[1].strip()) >= 24


node = shutil.which("node")
client_installed = (REPO / "node_modules" / "socket.io-client").is_dir()


@pytest.mark.node
@pytest.mark.skipif(node is None, reason="node is not installed")
@pytest.mark.skipif(not client_installed, reason="run `make setup` to install socket.io-client")
async def test_official_js_client_follows_the_source_example(served: Served) -> None:
    run = await asyncio.to_thread(
        subprocess.run,
        [str(node), str(REPO / "tests" / "node" / "interop.mjs"), served.url, TOKEN],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert report["joinedId"] == report["aliceId"]
    assert report["bobGot"]["user"] == report["aliceId"]
    assert report["bobGot"]["text"] == "Hello!"
    assert report["aliceGot"] == []  # never the sender
    assert report["carolGot"] == []  # never another room
    assert report["admin"] == {
        "wrong": "Unauthorized",
        "missing": "Unauthorized",
        "right": "accepted",
    }

    code, log = await stop(served)
    assert code == 0, log  # clean shutdown on Ctrl-C
    assert "connect " in log
    assert "disconnect " in log
    assert "refused " in log
    assert TOKEN not in log
