"""Seal a candidate host: find bubblewrap, build its command line, set the resource limits.

A submission's code runs in a *candidate host* (:mod:`roomkit.course.candidate_host`),
a fresh Python process. Sealed, it runs under bubblewrap (``bwrap``) in its own
PID, mount, network, IPC and UTS namespaces, as a user id of its own with no
capabilities, and sees only: ``/usr`` and the interpreter, its packages and the
roomkit package (read-only), the exercise test modules it needs (read-only) and
a private ``/tmp``. It shares no directory with the grader: the grader binds the
Unix sockets its servers listen on and hands it the listening sockets. Without
bubblewrap it runs as a plain child process with the same limits (see
:func:`resolve`). The process cap (``RLIMIT_NPROC`` counts per user id) applies
only where the host has a user id of its own: sealed, with the grader running
as root.
"""

from __future__ import annotations

import functools
import os
import resource
import secrets
import shutil
import site
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import roomkit
from roomkit.errors import RoomkitError

__all__ = [
    "Limits",
    "SandboxMode",
    "SandboxUnavailable",
    "apply_limits",
    "find_bwrap",
    "host_command",
    "resolve",
    "sandbox_uid",
    "why_unsealed",
]

# "auto": bwrap when it works, else a plain child process (with a warning);
# "require": bwrap or refuse; "off": the learner's code in the grading process.
SandboxMode = Literal["auto", "require", "off"]

# Sealed hosts run as a user id of their own (process caps are per user id), drawn
# from a range no account uses.
_UID_BASE = 1_100_000
_UID_SPAN = 1 << 30
_warned = False
SETPRIV = "/usr/bin/setpriv"


class SandboxUnavailable(RoomkitError):
    """Sealed grading was required, but bubblewrap is missing or does not work here."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one candidate host may use; none of it can be lifted from inside.

    :param memory_bytes: address space (``RLIMIT_AS``). Default 2 GiB.
    :param cpu_seconds: CPU time over the host's life (``RLIMIT_CPU``); a host
        that runs out is killed and the next test starts a fresh one. Default 60.
    :param file_bytes: size of any file it writes (``RLIMIT_FSIZE``). Default 64 MiB.
    :param processes: processes and threads of its user id (``RLIMIT_NPROC``),
        sealed only. Default 64.
    """

    memory_bytes: int = 2 << 30
    cpu_seconds: int = 60
    file_bytes: int = 64 << 20
    processes: int = 64

    def as_arguments(self, *, processes: bool) -> list[str]:
        """The candidate host's command-line options for these limits.

        :param processes: whether to cap processes (see :func:`apply_limits`).
        """
        return [
            f"--memory={self.memory_bytes}",
            f"--cpu={self.cpu_seconds}",
            f"--file-size={self.file_bytes}",
            f"--processes={self.processes if processes else 0}",
        ]


def apply_limits(limits: Limits, *, processes: bool) -> None:
    """Set ``limits`` on this process, with hard limits it cannot raise again.

    :param limits: the limits.
    :param processes: whether to cap processes too (only under a user id of
        its own: the cap counts every process of the user).
    """
    caps = [
        (resource.RLIMIT_AS, limits.memory_bytes, limits.memory_bytes),
        # SIGXCPU at the soft limit says why; SIGKILL one second later if it is ignored.
        (resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1),
        (resource.RLIMIT_FSIZE, limits.file_bytes, limits.file_bytes),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    if processes:
        caps.append((resource.RLIMIT_NPROC, limits.processes, limits.processes))
    for which, soft, hard in caps:
        resource.setrlimit(which, (soft, hard))


@functools.cache
def find_bwrap() -> str | None:
    """The ``bwrap`` executable, if there is one and it can make namespaces here."""
    path = shutil.which("bwrap")
    # As root, the host drops to a user id of its own with setpriv (util-linux).
    if path is None or (os.geteuid() == 0 and not os.access(SETPRIV, os.X_OK)):
        return None
    probe = [path, *_namespaces(), "--ro-bind", "/", "/", "true"]
    try:
        ran = subprocess.run(probe, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if ran.returncode == 0 else None


def why_unsealed() -> str | None:
    """Why this machine cannot seal a submission; None when it can."""
    if find_bwrap() is None:
        return "bubblewrap (bwrap) is missing or cannot create namespaces here"
    return None


def resolve(mode: SandboxMode) -> bool:
    """Whether grading under ``mode`` seals the candidate (True) or not (False).

    :raises SandboxUnavailable: under ``"require"`` without a working bubblewrap.
    """
    global _warned
    if mode == "off":
        return False
    if find_bwrap() is not None:
        return True
    if mode == "require":
        raise SandboxUnavailable(
            "sealed grading needs bubblewrap (bwrap), which is missing or cannot create "
            "namespaces here: install it (Debian: apt-get install bubblewrap) or grade "
            "without --require-sandbox"
        )
    if not _warned:
        _warned = True
        print(
            "roomkit grade: warning: bubblewrap (bwrap) is not available, so each "
            "submission runs in a plain child process that can read the grader's files",
            file=sys.stderr,
        )
    return False


def sandbox_uid() -> int:
    """A user id for the next sealed host: random in a range no account uses, so that
    hosts graded at once (``--jobs``) practically never share one (nor a process cap)."""
    return _UID_BASE + secrets.randbelow(_UID_SPAN)


def _namespaces() -> list[str]:
    # As root, no user namespace: the host drops to a user id of its own with
    # setpriv, which is what makes the process cap count its processes only.
    user = [] if os.geteuid() == 0 else ["--unshare-user"]
    return [*user, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]


def _readable_paths() -> list[Path]:
    """The interpreter, its packages and roomkit: what the host needs to import."""
    package = Path(roomkit.__file__).resolve().parent
    paths = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.exec_prefix), package}
    paths.update(Path(entry) for entry in site.getsitepackages())
    paths.add(Path(sys.executable).parent)
    existing = sorted(path for path in paths if path.exists() and not path.is_relative_to("/usr"))
    # A path inside another one is already visible.
    return [
        path for path in existing if not any(path.is_relative_to(o) and path != o for o in existing)
    ]


def _ancestors(paths: Sequence[Path]) -> list[str]:
    """``--dir`` options for every ancestor of ``paths``, traversable by the host's user."""
    dirs = sorted({str(parent) for path in paths for parent in path.parents if str(parent) != "/"})
    return [argument for path in dirs for argument in ("--perms", "0755", "--dir", path)]


def host_command(
    modules: Sequence[Path],
    limits: Limits,
    *,
    sealed: bool,
    uid: int,
    control_fd: int,
) -> list[str]:
    """The command that starts one candidate host.

    :param modules: the exercise test modules the host may import (read-only).
    :param limits: its limits.
    :param sealed: under bubblewrap (True) or as a plain child process (False).
    :param uid: the user id a sealed host runs as (when the grader is root).
    :param control_fd: the host's end of the control socket (inherited).
    """
    host = [
        sys.executable,
        "-I",
        "-m",
        "roomkit.course.candidate_host",
        f"--control-fd={control_fd}",
        # The process cap only under a user id of the host's own (see apply_limits).
        *limits.as_arguments(processes=sealed and os.geteuid() == 0),
    ]
    if not sealed:
        return host
    bwrap = find_bwrap()
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not available")
    readable = [*_readable_paths(), *(module.resolve() for module in modules)]
    command = [bwrap, *_namespaces(), "--die-with-parent", "--new-session"]
    # /tmp first: what is bound below it (a course in /tmp) must stay visible.
    command += ["--perms", "1777", "--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = Path("/", link)
        if target.is_symlink():
            command += ["--symlink", os.readlink(target), f"/{link}"]
    command += _ancestors(readable)
    for path in readable:
        command += ["--ro-bind", str(path), str(path)]
    command += ["--proc", "/proc", "--dev", "/dev"]
    command += ["--chdir", "/tmp", "--clearenv"]
    for name, value in (("PATH", "/usr/bin:/bin"), ("HOME", "/tmp"), ("LANG", "C.UTF-8")):
        command += ["--setenv", name, value]
    if os.geteuid() == 0:
        command += [
            SETPRIV,
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
        ]
    return command + host
