"""`make bench` is not run in CI (its figures need a quiet machine): its command line at
least must parse, so that a merge cannot leave it broken until someone measures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent.parent / "benchmarks" / "run.py"


def test_the_benchmark_command_line_parses() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "--only {replicas,pgbouncer}" in done.stdout
