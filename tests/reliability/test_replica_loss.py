"""A read replica crashes and comes back under a read load (see conftest.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from persistence import Database, PersistenceError, Settings

from ..topology import Topology
from .conftest import Result

SERVED_BY = "select pg_is_in_recovery()"  # true on the replica


def test_replica_lost_under_read_load(topology: Topology, tmp_path: Path) -> None:
    result = Result("replica lost under read load, 8 readers")
    settings = Settings(
        database_url=topology.primary_url,
        replica_urls=(topology.replica_url,),
        pool_min=4,
        pool_max=8,
        pool_timeout=5.0,
        connect_timeout=2.0,
        project=tmp_path,
    )
    stop = threading.Event()
    lock = threading.Lock()
    errors: list[str] = []
    on_replica: list[float] = []

    def read() -> None:
        while not stop.is_set():
            try:
                served = db.fetch_value(SERVED_BY)
            except PersistenceError as ex:
                with lock:
                    errors.append(f"{type(ex).__name__}: {ex}")
                    result.operations += 1
                continue
            with lock:
                result.operations += 1
                if served:
                    on_replica.append(time.monotonic())

    with Database(settings) as db:
        readers = [threading.Thread(target=read) for _ in range(8)]
        for reader in readers:
            reader.start()
        try:
            time.sleep(2)
            topology.replica.stop("immediate")  # a crash: connections cut mid-read
            result.faults = 1
            time.sleep(3)
            topology.replica.restart()
            back = time.monotonic()
            deadline = back + 60
            while time.monotonic() < deadline and not any(t >= back for t in on_replica):
                time.sleep(0.05)
            time.sleep(1)
        finally:
            stop.set()
            for reader in readers:
                reader.join(timeout=60)
    returned = [t - back for t in on_replica if t >= back]
    result.recovery_s = min(returned) if returned else None
    result.app_errors = len(errors)
    result.note = "reads failed = app errors; recovery: until the replica serves again"
    result.record()
    assert errors == [], errors[:3]
    assert result.recovery_s is not None, "the replica was never used again"
