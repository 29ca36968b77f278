"""Generate the sync twins from the async sources: `*_async.py` -> `*.py`.

Only the async modules are written by hand. This script removes `async`/`await`,
renames async names to their sync counterparts (AsyncDatabase -> Database,
asynccontextmanager -> contextmanager, ...) token by token, so strings and comments
follow, and writes the result with a DO NOT EDIT header, formatted by ruff.

    python tools/async_to_sync.py            # regenerate
    python tools/async_to_sync.py --check    # exit 1 if a generated file is stale
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Source -> generated. Tests are generated the same way.
FILES = {
    "persistence/batcher_async.py": "persistence/batcher.py",
    "persistence/database_async.py": "persistence/database.py",
    "persistence/query_runner_async.py": "persistence/query_runner.py",
    "persistence/_replicas_async.py": "persistence/_replicas.py",
    "persistence/_retrying_async.py": "persistence/_retrying.py",
    "persistence/_statements_async.py": "persistence/_statements.py",
    "persistence/_transactions_async.py": "persistence/_transactions.py",
    "persistence/repository_async.py": "persistence/repository.py",
    "tests/test_batcher_async.py": "tests/test_batcher.py",
    "tests/test_database_async.py": "tests/test_database.py",
    "tests/test_query_runner_async.py": "tests/test_query_runner.py",
    "tests/test_repository_async.py": "tests/test_repository.py",
    "tests/test_write_safety_async.py": "tests/test_write_safety.py",
    "tests/test_replicas_async.py": "tests/test_replicas.py",
}

RENAMES = {
    "AsyncBatcher": "Batcher",
    "AsyncReplicaSet": "ReplicaSet",
    "AsyncStatements": "Statements",
    "AsyncTransactions": "Transactions",
    "AsyncBatchWriter": "BatchWriter",
    "AsyncDatabase": "Database",
    "AsyncConnectionPool": "ConnectionPool",
    "AsyncConnection": "Connection",
    "AsyncCursor": "Cursor",
    "AsyncCopy": "Copy",
    "AbstractAsyncContextManager": "AbstractContextManager",
    "AsyncIterator": "Iterator",
    "AsyncGenerator": "Generator",
    "AsyncOperation": "Operation",
    "AsyncExecutor": "Executor",
    "AsyncQueries": "Queries",
    "AsyncQueryRunner": "QueryRunner",
    "AsyncBaseRepository": "BaseRepository",
    "AsyncTransactionAttempts": "TransactionAttempts",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
    "StopAsyncIteration": "StopIteration",
    "asynccontextmanager": "contextmanager",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "aclose": "close",
    "aclosing": "closing",
    "asleep": "sleep",
    "ALock": "Lock",
    "AEvent": "Event",
    "ABackground": "Background",
    "aevent_wait": "event_wait",
    "aspawn": "spawn",
    "ajoin": "join",
    "batcher_async": "batcher",
    "aowner": "owner",
    "aregister_types": "register_types",
    "database_async": "database",
    "repository_async": "repository",
    "query_runner_async": "query_runner",
    "_replicas_async": "_replicas",
    "_retrying_async": "_retrying",
    "_statements_async": "_statements",
    "_transactions_async": "_transactions",
    "agather": "gather",
    "ablocking": "blocking",
    "adb": "db",
}
_WORD = re.compile(r"\b(" + "|".join(map(re.escape, RENAMES)) + r")\b")
# "an AsyncDatabase" reads "a Database" once renamed.
_ARTICLE = re.compile(r"\b([Aa])n (`?)(?=(Async\w+))")
# Each async source says this of itself; in the twin it would be false.
SOURCE_NOTE = "The sync twin is generated from this file."
TWIN_NOTE = "Generated from {src}: edit that file."
HEADER = "# Generated from {src} by tools/async_to_sync.py: DO NOT EDIT.\n"


def convert(source: str, src_name: str) -> str:
    lines = source.splitlines(keepends=True)
    edits: list[tuple[tuple[int, int], tuple[int, int], str]] = []  # (start, end, new text)
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME and tok.string in ("async", "await"):
            # Drop the keyword and the single space after it.
            row, col = tok.end
            after = col + 1 if lines[row - 1][col : col + 1] == " " else col
            edits.append((tok.start, (row, after), ""))
        elif tok.type in (tokenize.NAME, tokenize.STRING, tokenize.COMMENT):
            prose = tok.type != tokenize.NAME  # docstrings and comments
            new = _ARTICLE.sub(_article, tok.string) if prose else tok.string
            new = _WORD.sub(lambda m: RENAMES[m.group(1)], new)
            if prose:
                new = re.sub(r"\b(async|await) (?=\w)", "", new)
                new = new.replace(SOURCE_NOTE, TWIN_NOTE.format(src=src_name))
            if new != tok.string:
                edits.append((tok.start, tok.end, new))
    # Splice from the end so earlier positions stay valid.
    for (srow, scol), (erow, ecol), new in sorted(edits, reverse=True):
        head, tail = lines[srow - 1][:scol], lines[erow - 1][ecol:]
        lines[srow - 1 : erow] = [head + new + tail]
    return HEADER.format(src=src_name) + "".join(lines)


def _article(m: re.Match[str]) -> str:
    vowel = RENAMES.get(m.group(3), m.group(3))[0] in "AEIOU"
    return f"{m.group(1)}{'n' if vowel else ''} {m.group(2)}"


def _ruff_format(text: str, path: Path) -> str:
    ruff = Path(sys.executable).parent / "ruff"
    args = [str(ruff) if ruff.exists() else "ruff", "format", "--stdin-filename", str(path), "-"]
    fixed = subprocess.run(
        # The project's own lint config, so `make format` leaves generated files alone.
        [args[0], "check", "--fix-only", "--exit-zero", "--stdin-filename", str(path), "-"],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    out = subprocess.run(args, input=fixed or text, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"ruff format failed on {path}:\n{out.stderr}")
    return out.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a generated file is stale")
    args = parser.parse_args(argv)
    stale = []
    for src, dst in FILES.items():
        wanted = _ruff_format(convert((ROOT / src).read_text(), src), ROOT / dst)
        target = ROOT / dst
        current = target.read_text() if target.exists() else ""
        if wanted == current:
            continue
        if args.check:
            stale.append(dst)
        else:
            target.write_text(wanted)
            print(f"generated {dst} from {src}")
    if stale:
        print(
            "stale generated files: " + ", ".join(stale) + "; run `make generate`", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
