"""Faults injected from outside the toolkit: a TCP proxy that cuts connections, and a
server process frozen with SIGSTOP. Used by the write-safety tests and `make reliability`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from persistence import Settings

# Frontend messages that start a statement: simple Query, or the extended protocol's
# Parse / Bind (a prepared statement skips Parse).
_STATEMENT_STARTS = (b"Q", b"P", b"B")


class CuttingProxy:
    """A TCP proxy in front of a PostgreSQL server that can lose a reply.

    `cut_next()` arms it: the next statement a client sends is forwarded to the server,
    the server's reply is dropped, and once the server has had `delay` seconds to run
    (and commit) it, both sides of that connection are closed. That is the commit
    ambiguity a client cannot resolve by itself: the work was done, the answer is lost.
    """

    def __init__(self, host: str, port: int, delay: float = 0.3):
        self.target = (host, port)
        self.delay = delay
        self.cuts = 0
        self._armed = threading.Event()
        self._containing: bytes | None = None
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closing = False
        self._pairs: list[_Pair] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_next(self, containing: bytes | None = None) -> None:
        """Lose the reply of the next statement (the next whose message holds
        `containing`, such as b"COMMIT", if given)."""
        self._containing = containing
        self._armed.set()

    def settings(self, settings: Settings) -> Settings:
        """`settings` pointed at the proxy instead of the server."""
        params = psycopg.conninfo.conninfo_to_dict(settings.database_url or "")
        params.update(host="127.0.0.1", port=str(self.port))
        return settings.with_url(psycopg.conninfo.make_conninfo("", **params))

    def close(self) -> None:
        """Stop: refuse new connections and cut every open one, like a server gone."""
        self._closing = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._listener.close()
        for pair in self._pairs:
            pair.close()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            pair = _Pair(client, upstream)
            self._pairs.append(pair)
            threading.Thread(target=self._upstream, args=(pair,), daemon=True).start()
            threading.Thread(target=self._downstream, args=(pair,), daemon=True).start()

    def _upstream(self, pair: _Pair) -> None:
        started = False  # the startup packet has no type byte: skip it
        while (data := _recv(pair.client)) is not None:
            cut = (
                started
                and self._armed.is_set()
                and data[:1] in _STATEMENT_STARTS
                and (self._containing is None or self._containing in data)
            )
            if cut:
                self._armed.clear()
                pair.drop_replies = True
            started = True
            with contextlib.suppress(OSError):
                pair.upstream.sendall(data)
            if cut:
                time.sleep(self.delay)  # let the server run and commit it
                self.cuts += 1
                pair.close()
                return
        pair.close()

    def _downstream(self, pair: _Pair) -> None:
        while (data := _recv(pair.upstream)) is not None:
            if pair.drop_replies:
                continue
            with contextlib.suppress(OSError):
                pair.client.sendall(data)
        pair.close()


class _Pair:
    def __init__(self, client: socket.socket, upstream: socket.socket):
        self.client = client
        self.upstream = upstream
        self.drop_replies = False

    def close(self) -> None:
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def _recv(sock: socket.socket) -> bytes | None:
    try:
        data = sock.recv(65536)
    except OSError:
        return None
    return data or None


@contextlib.contextmanager
def cutting_proxy(settings: Settings, delay: float = 0.3) -> Iterator[CuttingProxy]:
    params = psycopg.conninfo.conninfo_to_dict(settings.database_url or "")
    proxy = CuttingProxy(
        str(params.get("host", "127.0.0.1")), int(str(params.get("port") or 5432)), delay
    )
    try:
        yield proxy
    finally:
        proxy.close()


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """Stop the server process `pid` (SIGSTOP) for the block, then let it go on.

    Skips the test when this user may not signal the server's processes (a remote
    server, or not running as root or the server's owner).
    """
    try:
        os.kill(pid, signal.SIGSTOP)
    except (PermissionError, ProcessLookupError) as ex:
        pytest.skip(f"cannot stop the server process {pid}: {ex}")
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)
