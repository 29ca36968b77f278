#!/usr/bin/env bash
# The consumer test (`make consumer`): the toolkit adopted by a brand-new project outside
# this repository, as a new user would: a fresh virtualenv in a temporary folder, the
# toolkit installed editable and (in a second one) from a wheel built here; then
# `persistence init`, a migration and a query added, `types`, `check`, `migrate`, a script
# using the typed module (started from another folder), `mypy --strict`, and the
# project's own pytest suite on the plugin.
#
# With DATABASE_URL set, each run gets a database of its own on that server (dropped at
# the end); without it, each project gets its database on the user's embedded server
# (dropped at the end; the server, shared with other projects, keeps running).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$REPO/.venv/bin/python}"
WORK="$(mktemp -d)"
BASE_URL="${DATABASE_URL:-}"
DBS=()

cleanup() {
    for mode in editable wheel; do
        if [ -x "$WORK/$mode/venv/bin/persistence" ] && [ -d "$WORK/$mode/shop" ]; then
            (cd "$WORK/$mode/shop" && env -u DATABASE_URL "$WORK/$mode/venv/bin/persistence" db drop) >/dev/null 2>&1 || true
        fi
    done
    for db in "${DBS[@]}"; do
        "$PY" - "$BASE_URL" "$db" <<'EOF' || true
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute(f'drop database if exists "{sys.argv[2]}" with (force)')
EOF
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

step() { echo "-- $*"; }

# A wheel built here leaves nothing in the source tree, and holds only the toolkit.
before="$(cd "$REPO" && git status --porcelain --ignored | grep -v '^!! \.venv/$' | sort || true)"
step "build the wheel"
"$PY" -m pip wheel -q --no-deps -w "$WORK/dist" "$REPO"
after="$(cd "$REPO" && git status --porcelain --ignored | grep -v '^!! \.venv/$' | sort || true)"
if [ "$before" != "$after" ]; then
    echo "error: building the wheel changed the source tree:" >&2
    diff <(echo "$before") <(echo "$after") >&2 || true
    exit 1
fi
WHEEL="$(ls "$WORK"/dist/persistence_pg-*.whl)"
if "$PY" -m zipfile -l "$WHEEL" | awk 'NR > 1 {print $1}' | grep -v '^persistence/\|^persistence_pg-' | grep -q .; then
    echo "error: the wheel holds more than the toolkit:" >&2
    "$PY" -m zipfile -l "$WHEEL" >&2
    exit 1
fi

# As the README says to install it: the pytest extra brings pytest and pytest-asyncio,
# the lint extra squawk (check lints the migrations: it must say so, not skip it).
extras="binary,pytest,lint"
[ -n "$BASE_URL" ] || extras="binary,embedded,pytest,lint"

run() {
    local mode="$1"
    shift
    local dir="$WORK/$mode"
    mkdir -p "$dir"
    step "$mode: fresh venv, install $*"
    python3 -m venv "$dir/venv"
    local bin="$dir/venv/bin"
    "$bin/python" -m pip install -q --disable-pip-version-check "$@" mypy 2>&1 \
        | { grep -v '^WARNING: Location' || true; }

    if [ -n "$BASE_URL" ]; then
        local name="persistence_consumer_${mode}_$$"
        "$PY" - "$BASE_URL" "$name" <<'EOF'
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute(f'create database "{sys.argv[2]}"')
EOF
        DBS+=("$name")
        export DATABASE_URL
        DATABASE_URL="$("$PY" -c 'import sys; from psycopg.conninfo import make_conninfo as m; print(m(sys.argv[1], dbname=sys.argv[2]))' "$BASE_URL" "$name")"
    fi

    step "$mode: persistence init shop"
    (cd "$dir" && "$bin/persistence" init shop)
    local shop="$dir/shop"

    step "$mode: a migration and a query added"
    (cd "$shop" && "$bin/persistence" new add_tags)
    echo "alter table notes add column tags text[] not null default '{}';" >>"$shop/migrations/0002_add_tags.sql"
    echo "alter table notes drop column tags;" >>"$shop/migrations/0002_add_tags.rollback.sql"
    cat >"$shop/queries/tags.sql" <<'EOF'
-- name: tag_note(id, tag)^
update notes set tags = array_append(tags, :tag) where id = :id returning id, tags;
EOF

    # From a subfolder: the project is found up from the current directory.
    mkdir -p "$shop/shop/sub"
    step "$mode: types, check, migrate (from a subfolder)"
    (cd "$shop/shop/sub" && "$bin/persistence" types && "$bin/persistence" check \
        | tee "$dir/check.out" && "$bin/persistence" migrate && "$bin/persistence" status --check)
    grep -q "^ok *migrations pass squawk's lint" "$dir/check.out"

    cat >"$shop/main.py" <<'EOF'
"""A script on the typed module, started from anywhere."""

from persistence import Database

from shop.queries import Queries

with Database() as db:
    q = Queries(db)
    note = q.notes.add_note(body="hello")
    tagged = q.tags.tag_note(id=note.id, tag="greeting")
    assert tagged is not None and tagged.tags == ["greeting"], tagged
    print(f"note {note.id} tagged {tagged.tags}; {q.notes.count_notes()} notes")
EOF
    step "$mode: the script, started from /"
    (cd / && "$bin/python" "$shop/main.py")

    step "$mode: mypy --strict"
    (cd "$shop" && "$bin/mypy" --strict --no-incremental shop tests main.py)

    step "$mode: the project's tests, on the plugin"
    # A configuration warning on a new project's first run is a defect of `init`.
    (cd "$shop" && "$bin/pytest" -q -p no:cacheprovider --strict-config \
        -W error::pytest.PytestConfigWarning -W error::pytest.PytestDeprecationWarning)
}

run editable -e "$REPO[$extras]"
run wheel "persistence-pg[$extras] @ file://$WHEEL"
echo "consumer: ok"
