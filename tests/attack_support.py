"""A real ``roomkit serve`` process to attack, and raw engine.io clients to attack it with."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from roomkit.testing import free_port

REPO = Path(__file__).resolve().parent.parent
ADMIN = "attack-admin-token-0123456789"
SERVE = (sys.executable, "-m", "roomkit", "serve")


@dataclass
class Served:
    """One ``roomkit serve`` child; its log goes to ``log_path``."""

    url: str
    process: subprocess.Popen[str]
    log_path: Path

    def rss_bytes(self) -> int:
        """The process's resident set size, from /proc."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line")

    def log_bytes(self) -> int:
        return self.log_path.stat().st_size

    @property
    def polling(self) -> str:
        return f"{self.url}/socket.io/?EIO=4&transport=polling"


@contextmanager
def roomkit_serve(
    tmp_path: Path, *flags: str, env: dict[str, str] | None = None, log_level: str = "INFO"
) -> Iterator[Served]:
    """Run ``roomkit serve --port P --log-level log_level *flags`` until the block ends."""
    port = free_port()
    log_path = tmp_path / f"serve-{port}.log"
    environment = {**os.environ, "ROOMKIT_ADMIN_TOKEN": ADMIN, **(env or {})}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*SERVE, "--port", str(port), "--log-level", log_level, *flags],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=environment,
            cwd=REPO,
        )
    assert process.stdout is not None
    try:
        if "serving on" not in process.stdout.readline():  # printed once the port is open
            raise RuntimeError(f"roomkit serve did not start: {log_path.read_text()[-2000:]}")
        yield Served(f"http://127.0.0.1:{port}", process, log_path)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


async def polling_session(
    http: aiohttp.ClientSession, polling_url: str, namespaces: Sequence[str] = ("/chat",)
) -> str:
    """Open an engine.io polling session, connect it to ``namespaces``; its sid."""
    async with http.get(polling_url) as response:
        sid = str(json.loads((await response.text())[1:])["sid"])
    for namespace in namespaces:
        async with http.post(f"{polling_url}&sid={sid}", data=f"40{namespace},") as response:
            assert response.status == 200, await response.text()
    return sid


async def websocket_session(
    http: aiohttp.ClientSession, url: str, namespace: str = "/chat", **options: object
) -> aiohttp.ClientWebSocketResponse:
    """A raw engine.io websocket connected to ``namespace``."""
    ws = await http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket", **options)  # type: ignore[arg-type]
    opened = await ws.receive_str(timeout=5)
    assert opened.startswith("0{"), opened
    await ws.send_str(f"40{namespace},")
    answer = await ws.receive_str(timeout=5)
    assert answer.startswith(f"40{namespace},"), answer
    return ws


async def closed_by_server(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5) -> bool:
    """Read until the server closes ``ws`` (True) or ``timeout`` passes (False)."""
    ends = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)

    async def until_closed() -> bool:
        while (await ws.receive()).type not in ends:
            pass
        return True

    try:
        return await asyncio.wait_for(until_closed(), timeout)
    except asyncio.TimeoutError:
        return False
