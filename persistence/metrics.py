"""Per-query figures: calls, errors, latency percentiles, Prometheus exposition.

Recorded for every named query and repository operation (`db.metrics`), keyed by the
query's name, never by parameter values. Latencies go into fixed histogram buckets:
constant memory per query, percentiles estimated within a bucket, and the same buckets
exported as a Prometheus histogram.
"""

from __future__ import annotations

import bisect
import logging
import threading
from dataclasses import dataclass, field, replace

__all__ = ["BUCKETS_MS", "Metrics", "QueryStats"]

logger = logging.getLogger(__name__)

#: Upper bounds of the latency buckets, in milliseconds (the last one is +Inf).
BUCKETS_MS = (0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


@dataclass(slots=True)
class QueryStats:
    """Figures for one query name since the database was opened (or metrics reset)."""

    calls: int = 0
    errors: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0
    #: Calls per latency bucket (BUCKETS_MS, then one for anything slower).
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_MS) + 1))

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0

    def percentile(self, p: float) -> float:
        """The latency (ms) that `p` % of calls stayed under, interpolated inside its
        bucket; 0.0 with no calls.

        >>> stats = QueryStats()
        >>> for ms in (0.8, 0.9, 1.2, 30.0):
        ...     stats.add(ms, ok=True)
        >>> stats.percentile(50), stats.percentile(99) <= stats.max_ms
        (1.0, True)
        """
        if not self.calls:
            return 0.0
        rank = p / 100 * self.calls
        seen = 0
        for i, count in enumerate(self.buckets):
            if count and seen + count >= rank:
                low = BUCKETS_MS[i - 1] if i else 0.0
                high = BUCKETS_MS[i] if i < len(BUCKETS_MS) else self.max_ms
                estimate = low + (high - low) * (rank - seen) / count
                return min(round(estimate, 3), self.max_ms)
            seen += count
        return self.max_ms

    def add(self, ms: float, ok: bool) -> None:
        self.calls += 1
        self.errors += not ok
        self.total_ms += ms
        self.max_ms = max(self.max_ms, ms)
        self.buckets[bisect.bisect_left(BUCKETS_MS, ms)] += 1


class Metrics:
    """Per-query call counts, errors and latency, and the slow-query log.

    The slow-query log record names the query and its duration (also as the `query`
    and `duration_ms` attributes of the record, for structured logging), never
    parameter values: they may be personal.
    """

    def __init__(self, slow_ms: float):
        self.slow_ms = slow_ms
        self._stats: dict[str, QueryStats] = {}
        self._lock = threading.Lock()  # the sync twin records from many threads

    def record(self, name: str, seconds: float, ok: bool) -> None:
        ms = seconds * 1000
        with self._lock:
            stats = self._stats.get(name)
            if stats is None:
                stats = self._stats[name] = QueryStats()
            stats.add(ms, ok)
        if ms >= self.slow_ms:
            slow(name, ms, self.slow_ms, ok)

    def snapshot(self) -> dict[str, QueryStats]:
        """A copy of the figures, by query name."""
        with self._lock:
            return {n: replace(st, buckets=list(st.buckets)) for n, st in self._stats.items()}

    def reset(self) -> None:
        with self._lock:
            self._stats.clear()

    def table(self) -> str:
        """The figures as an aligned table, slowest total first."""
        rows = sorted(self.snapshot().items(), key=lambda kv: -kv[1].total_ms)
        head = f"{'query':<44} {'calls':>7} {'errors':>6} {'mean ms':>9}"
        lines = [f"{head} {'p50':>8} {'p95':>8} {'p99':>8} {'max ms':>9}"]
        lines += [
            f"{name:<44} {st.calls:>7} {st.errors:>6} {st.mean_ms:>9.2f}"
            f" {st.percentile(50):>8.2f} {st.percentile(95):>8.2f} {st.percentile(99):>8.2f}"
            f" {st.max_ms:>9.2f}"
            for name, st in rows
        ]
        return "\n".join(lines)

    def prometheus(self, prefix: str = "persistence") -> str:
        """The figures in Prometheus' text exposition format: a latency histogram
        (seconds) and an error counter per query, labelled `query`.

        >>> m = Metrics(slow_ms=1e9)
        >>> m.record("users.get", 0.0004, ok=True)
        >>> print(m.prometheus(), end="")  # doctest: +ELLIPSIS
        # HELP persistence_query_duration_seconds Time spent per named query.
        # TYPE persistence_query_duration_seconds histogram
        persistence_query_duration_seconds_bucket{query="users.get",le="0.00025"} 0
        persistence_query_duration_seconds_bucket{query="users.get",le="0.0005"} 1
        ...
        persistence_query_duration_seconds_count{query="users.get"} 1
        # HELP persistence_query_errors_total Failed calls per named query.
        # TYPE persistence_query_errors_total counter
        persistence_query_errors_total{query="users.get"} 0
        """
        hist = f"{prefix}_query_duration_seconds"
        errors = f"{prefix}_query_errors_total"
        out = [
            f"# HELP {hist} Time spent per named query.",
            f"# TYPE {hist} histogram",
        ]
        snapshot = sorted(self.snapshot().items())
        for name, st in snapshot:
            label = f'query="{_escape(name)}"'
            cumulative = 0
            for bound, count in zip((*BUCKETS_MS, None), st.buckets, strict=True):
                cumulative += count
                le = "+Inf" if bound is None else f"{bound / 1000:g}"
                out.append(f'{hist}_bucket{{{label},le="{le}"}} {cumulative}')
            out.append(f"{hist}_sum{{{label}}} {st.total_ms / 1000:.6f}")
            out.append(f"{hist}_count{{{label}}} {st.calls}")
        out += [f"# HELP {errors} Failed calls per named query.", f"# TYPE {errors} counter"]
        out += [f'{errors}{{query="{_escape(n)}"}} {st.errors}' for n, st in snapshot]
        return "\n".join(out) + "\n"


def slow(name: str, ms: float, threshold: float, ok: bool = True) -> None:
    """Log a slow call: its name (or SQL text, never values) and duration. A call that
    failed is said to have failed: its time may be spent waiting for a connection
    (the pool's timeout), with no statement sent at all."""
    logger.warning(
        "slow query %r took %.1f ms (threshold %.0f ms)"
        if ok
        else "query %r failed after %.1f ms (threshold %.0f ms)",
        name,
        ms,
        threshold,
        extra={"query": name, "duration_ms": round(ms, 3), "ok": ok},
    )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
