"""A real Jupyter kernel: run cells, interrupt one, read what it printed.

The kernel is the one JupyterLab starts (``python3``, this interpreter), driven
over ZeroMQ by :mod:`jupyter_client`, so what is measured (the feedback
benchmark) or tested (tests/test_kernel.py) is what a learner gets.
"""

from __future__ import annotations

import queue
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

__all__ = ["CellRun", "Kernel", "running_kernel"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class CellRun:
    """What one cell did.

    :param output: what it printed (stdout and stderr), in order.
    :param error: the exception's name when it raised, else None.
    :param errors: the names of every error the cell reported, in order.
    :param traceback: the traceback as the notebook shows it, colours removed.
    :param finished: whether the kernel reported the cell done in time.
    :param seconds: from sending the cell to the kernel going idle.
    """

    output: str = ""
    error: str | None = None
    errors: list[str] = field(default_factory=list)
    traceback: str = ""
    finished: bool = False
    seconds: float = 0.0


class Kernel:
    """One running kernel and its client.

    :param manager: the kernel's manager (process, signals).
    :param client: the client whose channels are started.
    """

    def __init__(self, manager: KernelManager, client: BlockingKernelClient) -> None:
        self.manager = manager
        self.client = client

    def run(self, code: str, *, timeout: float = 30.0, interrupt_on: str | None = None) -> CellRun:
        """Run ``code`` as a cell and wait, at most ``timeout`` s, for the kernel to be idle.

        :param code: the cell's source.
        :param timeout: seconds to wait. Default 30.
        :param interrupt_on: interrupt the kernel (as JupyterLab's stop button does)
            once the output contains this text. Default: never.
        """
        started = time.monotonic()
        message_id = self.client.execute(code)
        run = CellRun()
        interrupted = False
        while time.monotonic() - started < timeout:
            try:
                message = self.client.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                if not self.manager.is_alive():
                    break
                continue
            if message["parent_header"].get("msg_id") != message_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                run.output += content["text"]
            elif kind == "error":
                run.error = content["ename"]
                run.errors.append(content["ename"])
                run.traceback += _ANSI.sub("", "\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                run.finished = True
                break
            if interrupt_on is not None and not interrupted and interrupt_on in run.output:
                self.manager.interrupt_kernel()
                interrupted = True
        run.seconds = time.monotonic() - started
        return run

    def alive(self) -> bool:
        return bool(self.manager.is_alive())


@contextmanager
def running_kernel(cwd: Path) -> Iterator[Kernel]:
    """Start a ``python3`` kernel in ``cwd``; shut it down on exit."""
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(cwd), startup_timeout=60)
    try:
        yield Kernel(manager, client)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
