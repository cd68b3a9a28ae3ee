"""`roomkit serve` as a real process, driven by the official JavaScript client."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from roomkit.testing import free_port

REPO = Path(__file__).resolve().parent.parent
TOKEN = "interop-admin-token"


@dataclass
class ServeProcess:
    url: str
    process: subprocess.Popen[str]
    banner: list[str]

    def stop(self) -> tuple[int, str]:
        """Ctrl-C, then what it logged."""
        self.process.send_signal(signal.SIGINT)
        _, log = self.process.communicate(timeout=10)
        return self.process.returncode, log


def start_serve(env_token: str | None) -> ServeProcess:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "ROOMKIT_ADMIN_TOKEN"}
    if env_token is not None:
        env["ROOMKIT_ADMIN_TOKEN"] = env_token
    process = subprocess.Popen(
        [sys.executable, "-m", "roomkit", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert process.stdout is not None
    # The serving line is printed once the port is open: it means "ready".
    banner = [process.stdout.readline()]
    if not banner[0]:
        raise RuntimeError(f"roomkit serve exited early: {process.communicate()[1]}")
    if env_token is None:
        banner.append(process.stdout.readline())  # the generated token
    return ServeProcess(f"http://127.0.0.1:{port}", process, banner)


@pytest.fixture
def served() -> Iterator[ServeProcess]:
    serve = start_serve(TOKEN)
    yield serve
    if serve.process.poll() is None:
        serve.process.kill()
        serve.process.communicate()


def test_generated_token_is_printed_when_none_is_set() -> None:
    serve = start_serve(None)
    code, _ = serve.stop()
    assert code == 0
    assert "serving on" in serve.banner[0]
    token_line = serve.banner[1]
    assert token_line.startswith("admin token")
    assert len(token_line.split(": ", 1)[1].strip()) >= 24


node = shutil.which("node")
client_installed = (REPO / "node_modules" / "socket.io-client").is_dir()


@pytest.mark.node
@pytest.mark.skipif(node is None, reason="node is not installed")
@pytest.mark.skipif(not client_installed, reason="run `make setup` to install socket.io-client")
def test_official_js_client_follows_the_source_example(served: ServeProcess) -> None:
    run = subprocess.run(
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

    code, log = served.stop()
    assert code == 0, log  # clean shutdown on Ctrl-C
    assert "connect " in log
    assert "disconnect " in log
    assert "refused " in log
    assert TOKEN not in log
