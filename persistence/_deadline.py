"""A client-side deadline for every call, so that no call waits forever.

`statement_timeout` is enforced by the server; a server that stops answering (a frozen
host, a SIGSTOPped postmaster, a network that drops packets without resetting) never
enforces it, and libpq waits on the socket for ever: TCP keepalives and
`tcp_user_timeout` do not fire while the peer's kernel still acknowledges.

One daemon thread watches the operations in flight. When one passes its deadline, the
thread shuts the connection's socket down (`shutdown(2)`, not `close`: the descriptor
stays libpq's). The waiting call, sync or async, then wakes on end-of-file, psycopg
marks the connection broken, and the pool replaces it. The same mechanism serves both
twins, and costs a dictionary insert and pop per call.

A `Scope` lets the code around a call end it sooner than its own deadline: every call
armed inside `within(scope)` (on this thread or task) is cut at `scope.expire(when)`'s
time at the latest, even if `expire` comes while the call waits. The batcher's close
uses it, so that a write in flight ends with close's timeout.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

__all__ = ["Scope", "Watch", "arm", "disarm", "within"]

#: How often the watchdog looks: a deadline is enforced at most this late.
TICK = 0.1


class Watch:
    """One operation in flight: its connection's socket and when it must be done."""

    __slots__ = ("fd", "fired", "key", "scope", "when")

    def __init__(self, key: int, fd: int, when: float):
        self.key = key
        self.fd = fd
        self.when = when
        self.fired = False
        self.scope: Scope | None = None


_inflight: dict[int, Watch] = {}
_lock = threading.Lock()
_keys = itertools.count()
_thread: threading.Thread | None = None


class Scope:
    """The calls armed inside `within(self)`: `expire(when)` cuts each one still in
    flight at `when`, and each one armed later at `when` at the latest."""

    __slots__ = ("watches", "when")

    def __init__(self) -> None:
        self.when = float("inf")
        self.watches: dict[int, Watch] = {}

    def expire(self, when: float) -> None:
        """End every call of the scope, in flight or to come, by `when` (monotonic)."""
        with _lock:
            self.when = min(self.when, when)
            for watch in self.watches.values():
                watch.when = min(watch.when, self.when)


_scope: ContextVar[Scope | None] = ContextVar("persistence_deadline_scope", default=None)


@contextlib.contextmanager
def within(scope: Scope) -> Iterator[None]:
    """Arm the calls of the block (in this thread or task) in `scope` too."""
    token = _scope.set(scope)
    try:
        yield
    finally:
        _scope.reset(token)


def arm(conn: Any, seconds: float) -> Watch:
    """Watch `conn` (a psycopg connection) for `seconds`; `disarm` the result after.

    A connection already lost is not watched (it has no socket, and nothing sent on it
    can wait): the call fails by itself, and the error that lost it stays the one raised.
    """
    global _thread
    try:
        fd = conn.pgconn.socket
    except Exception:  # psycopg.OperationalError: the connection is lost
        return Watch(next(_keys), -1, time.monotonic() + seconds)
    watch = Watch(next(_keys), fd, time.monotonic() + seconds)
    scope = _scope.get()
    if scope is not None:
        watch.scope = scope
        with _lock:
            watch.when = min(watch.when, scope.when)
            scope.watches[watch.key] = watch
    _inflight[watch.key] = watch
    if _thread is None:
        with _lock:
            if _thread is None:
                _thread = threading.Thread(target=_watch, name="persistence-deadline", daemon=True)
                _thread.start()
    return watch


def disarm(watch: Watch) -> bool:
    """Stop watching; True if the deadline passed and the connection was cut."""
    with _lock:  # never cut a socket that has gone back to the pool
        _inflight.pop(watch.key, None)
        if watch.scope is not None:
            watch.scope.watches.pop(watch.key, None)
        return watch.fired


def _watch() -> None:
    while True:
        time.sleep(TICK)
        now = time.monotonic()
        late = [w for w in list(_inflight.values()) if w.when <= now]
        for watch in late:
            with _lock:
                if _inflight.pop(watch.key, None) is not None:
                    if watch.scope is not None:
                        watch.scope.watches.pop(watch.key, None)
                    watch.fired = True
                    _cut(watch.fd)


def _cut(fd: int) -> None:
    try:
        # A duplicate descriptor: shutting it down ends the connection for libpq's too,
        # and closing the duplicate leaves libpq's descriptor valid.
        with socket.socket(fileno=socket.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: the call is failing anyway
