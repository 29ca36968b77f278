"""What read-replica routing shares between the twins, with no I/O.

A WAL position (an LSN, ``16/B374D848``) is kept as an int, so positions compare with
``<``. A caller's causal token is the primary's position after its last committed
write; a replica may serve the caller's reads once it has replayed that far.
"""

from __future__ import annotations

__all__ = ["STATUS", "WAL_POSITION", "ReplicaState", "format_lsn", "parse_lsn"]

#: Asked of a replica before a read when what is known of it is older than
#: `ReplicaState.TTL`, or behind the read's token: is it still a replica, how far has
#: it replayed, and how far behind is it. The lag is the age of the last replayed
#: transaction while WAL is waiting to be replayed, 0 once everything received is
#: replayed (an idle primary sends nothing, and is not "behind") -- unless the replica
#: has no WAL receiver: cut off from its primary it receives nothing, so "everything
#: received" says nothing, and it is as stale as its last replayed transaction.
#: (pg_stat_wal_receiver shows its row to every role, without the details.)
#: "Received" can be behind "replayed": a WAL receiver that (re)connects streams from
#: the start of the current segment, and until the primary writes again
#: pg_last_wal_receive_lsn() is that start, before what was already replayed. Nothing
#: waits to be replayed then either: no lag.
STATUS = b"""select pg_is_in_recovery(),
  (case when pg_is_in_recovery() then pg_last_wal_replay_lsn()
        else pg_current_wal_lsn() end)::text,
  case when not pg_is_in_recovery() then 0
       when not exists (select from pg_stat_wal_receiver)
         then coalesce(extract(epoch from clock_timestamp()
                               - pg_last_xact_replay_timestamp()), 'Infinity')::float8
       when pg_last_wal_receive_lsn() is not distinct from pg_last_wal_replay_lsn()
         or pg_last_wal_receive_lsn() < pg_last_wal_replay_lsn() then 0
       else coalesce(extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp()),
                     0)::float8 end"""

#: Read on the primary right after a commit: a position at or past the commit record.
WAL_POSITION = b"select pg_current_wal_lsn()::text"


def parse_lsn(text: str) -> int:
    """An LSN as an int.

    >>> parse_lsn("16/B374D848") > parse_lsn("16/B374D847")
    True
    """
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


class ReplicaState:
    """What is known of one replica: whether it is down (and until when it is left
    alone), how far it has replayed, how far behind it is, and when that was seen."""

    #: Seconds a replica's status is trusted before a read asks again.
    TTL = 0.25
    #: First and longest pause before a replica that failed is tried again.
    FIRST_BACKOFF = 0.25
    MAX_BACKOFF = 2.0

    __slots__ = (
        "backoff",
        "checked_at",
        "down_until",
        "error",
        "failed",
        "in_recovery",
        "lag",
        "replayed",
        "url",
    )

    def __init__(self, url: str):
        #: Masked: this is what health reports and logs show.
        self.url = url
        self.failed = False
        self.down_until = 0.0
        self.backoff = 0.0
        self.error: str | None = None
        self.checked_at = float("-inf")
        self.in_recovery: bool | None = None
        self.replayed = 0
        self.lag: float | None = None

    def down(self, now: float, error: str) -> None:
        """The replica failed: leave it alone for a back-off that doubles each time."""
        self.failed = True
        self.error = error
        self.backoff = min(max(self.backoff * 2, self.FIRST_BACKOFF), self.MAX_BACKOFF)
        self.down_until = now + self.backoff

    def up(self) -> None:
        self.failed = False
        self.error = None
        self.backoff = 0.0
        self.down_until = 0.0

    def seen(self, now: float, in_recovery: bool, position: str | None, lag: float) -> None:
        self.checked_at = now
        self.in_recovery = in_recovery
        if position is not None:
            self.replayed = max(self.replayed, parse_lsn(position))
        self.lag = lag

    def fresh(self, now: float) -> bool:
        return now - self.checked_at < self.TTL

    def lagging(self, max_lag: float) -> bool:
        return self.lag is not None and self.lag > max_lag

    def state(self, max_lag: float) -> str:
        if self.failed:
            return "down"
        return "lagging" if self.lagging(max_lag) else "up"


def format_lsn(position: int) -> str:
    """An LSN as PostgreSQL writes it.

    >>> format_lsn(parse_lsn("16/B374D848"))
    '16/B374D848'
    """
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"
