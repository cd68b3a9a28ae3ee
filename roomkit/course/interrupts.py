"""Make JupyterLab's stop button reach an ``await`` cell at once.

ipykernel turns an interrupt (SIGINT) during an ``await`` cell into a cancel that
it queues on the kernel's event loop from the signal handler. Queuing does not wake
a loop that sleeps in ``epoll_wait``: the cancel waits for the loop's next event.
A cell that awaits a thread (``await check(...)``) or a long ``asyncio.sleep`` has
no next event, so the stop button seemed to do nothing until the cell ended on its
own (measured: 6 s of 6; ipython/ipykernel#881 describes the same).

:func:`wake_loop_on_signals` fixes that for the kernel it runs in: the signal
module writes a byte to a socket for every signal (:func:`signal.set_wakeup_fd`),
and the loop reads that socket, so a signal always wakes the loop and the queued
cancel runs.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading

__all__ = ["wake_loop_on_signals"]

# The socket pair in use, kept for the kernel's life (the signal module holds only its fd).
_installed: tuple[socket.socket, socket.socket] | None = None


def _drain(reader: socket.socket) -> None:
    try:
        while reader.recv(4096):
            pass
    except (BlockingIOError, InterruptedError):
        pass


def wake_loop_on_signals(loop: asyncio.AbstractEventLoop) -> bool:
    """Wake ``loop`` whenever the process receives a signal (once per process).

    Nothing changes where something already wakes a loop on signals (asyncio's
    ``add_signal_handler`` sets its own wakeup fd), off the main thread, where
    :func:`signal.set_wakeup_fd` is not allowed, or on a loop that cannot watch a
    socket (Windows' proactor loop).

    :param loop: the kernel's running event loop, on the main thread.
    :returns: whether signals now wake ``loop`` (also when an earlier call did it).
    """
    global _installed
    if _installed is not None:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    watched = previous == -1  # else someone else's wakeup fd, which stays
    if watched:
        try:
            loop.add_reader(reader.fileno(), _drain, reader)
        except NotImplementedError:  # a loop that cannot watch sockets (Windows' proactor)
            watched = False
    if not watched:
        signal.set_wakeup_fd(previous)
        reader.close()
        writer.close()
        return False
    _installed = (reader, writer)
    return True
