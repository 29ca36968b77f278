"""Processes and ports of the embedded server: whether a pid is alive and is the
postmaster of a data folder, waiting for it to exit; whether a port is free, and a free
one."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_free(port: int) -> bool:
    """Whether PostgreSQL could listen on `port` (as it does, the probe reuses an
    address its last connections keep in TIME_WAIT; a listener refuses it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def exists(pid: int) -> bool:
    """Whether pid `pid` is taken, by a running process or a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def alive(pid: int) -> bool:
    """Whether the process runs; a zombie (exited, not yet reaped) counts as gone."""
    if not exists(pid):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust kill(0)
    return stat.rpartition(")")[2].split()[0] != "Z"


def is_postmaster_of(pid: int, pgdata: Path) -> bool:
    """Whether process `pid` is the postmaster of `pgdata`, not any other process (nor
    another data folder's PostgreSQL) that has its pid since a reboot.

    PostgreSQL makes its data folder its working directory: /proc tells which (as root,
    or for our own processes); for another user's process, its command line's `-D`
    does. Without /proc (macOS), it is taken to be.
    """
    proc = Path(f"/proc/{pid}")
    try:
        return Path(os.readlink(proc / "cwd")) == pgdata
    except PermissionError:
        pass
    except OSError:
        return not Path("/proc/self").exists()
    try:
        argv = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if not argv[0].rsplit(b"/", 1)[-1].startswith(b"postgres"):
        return False
    folders = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == b"-D"]
    return any(os.path.realpath(os.fsdecode(folder)) == str(pgdata) for folder in folders)


def wait_dead(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
