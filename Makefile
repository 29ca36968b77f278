# The operator's interface. Every target installs what it needs on first use
# (a venv in .venv, stamped by pyproject.toml), so one command works on a fresh machine.
# With DATABASE_URL unset, targets that need a database use the embedded server.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/persistence
UV := $(shell command -v uv 2>/dev/null)
# Every project the CLI drives: this one, the tests' sample, and each example.
PROJECTS := . tests/sample tests/alltypes $(patsubst %/,%,$(wildcard examples/*/))

# Install with uv when the machine has it, with pip otherwise. The development tools are
# dependency groups (PEP 735, pyproject.toml), which pip reads from 25.1 on: an older pip
# in the venv is upgraded first.
define install
	@test -x $(PY) || { if [ -n "$(UV)" ]; then $(UV) venv -q $(VENV); else python3 -m venv $(VENV); fi; }
	@if [ -n "$(UV)" ]; then $(UV) pip install -q --python $(PY) -e . --group $(1); \
	else $(PY) -c 'import sys, pip; sys.exit(tuple(map(int, pip.__version__.split(".")[:2])) < (25, 1))' \
		|| $(PY) -m pip install -q --disable-pip-version-check 'pip>=25.1'; \
	$(PY) -m pip install -q --disable-pip-version-check -e . --group $(1); fi
endef

$(VENV)/.installed: pyproject.toml
	$(call install,dev)
	@touch $@

# The dev group holds the benchmark libraries too (they are type-checked with the rest).
$(VENV)/.installed-bench: $(VENV)/.installed
	@touch $@

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: install
install: $(VENV)/.installed ## create .venv and install the package with its dev tools

.PHONY: demo
demo: $(VENV)/.installed ## migrate, seed and run the Catalyst Radar service end to end (embedded db unless DATABASE_URL)
	$(PY) -m radar.demo

.PHONY: test
test: $(VENV)/.installed ## run the test suite (embedded server unless DATABASE_URL is set)
	$(PY) -m pytest

.PHONY: lint
lint: $(VENV)/.installed check-generated ## ruff, formatting, mypy --strict, import layers, generated code up to date
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

.PHONY: typecheck
typecheck: $(VENV)/.installed ## mypy --strict on the package, tests, tools, benchmarks and examples
	$(VENV)/bin/mypy

.PHONY: format
format: $(VENV)/.installed ## fix imports and formatting
	$(VENV)/bin/ruff check --fix-only -q .
	$(VENV)/bin/ruff format -q .

.PHONY: generate
generate: $(VENV)/.installed ## regenerate the sync twins from the *_async.py sources
	$(PY) tools/async_to_sync.py

.PHONY: check-generated
check-generated: $(VENV)/.installed ## fail if a generated sync twin is stale
	$(PY) tools/async_to_sync.py --check

.PHONY: migrate
migrate: $(VENV)/.installed ## apply pending migrations (TARGET=id: only up to it; DRY_RUN=1: print SQL)
	$(CLI) migrate $(if $(TARGET),--target $(TARGET)) $(if $(DRY_RUN),--dry-run)

.PHONY: migrate-check
migrate-check: $(VENV)/.installed ## CI gate: apply nothing, exit 1 if a migration is pending or an applied one changed
	$(CLI) migrate --check

.PHONY: rollback
rollback: $(VENV)/.installed ## roll back the last migration (STEP=n, or TARGET=id; DRY_RUN=1; YES=1: no question in production)
	$(CLI) rollback $(if $(TARGET),--target $(TARGET),--steps $(or $(STEP),1)) $(if $(DRY_RUN),--dry-run) $(if $(YES),--yes)

.PHONY: status
status: $(VENV)/.installed ## list migrations: applied or pending, when, checksum ok or changed
	$(CLI) status

.PHONY: history
history: $(VENV)/.installed ## the applied migrations in order: when, applied or marked, by whom
	$(CLI) history

.PHONY: baseline
baseline: $(VENV)/.installed ## record migrations as applied without running them (TARGET=id: only up to it)
	$(CLI) baseline $(if $(TARGET),--target $(TARGET))

.PHONY: show-migration
show-migration: $(VENV)/.installed ## print a migration's SQL as it runs, for psql (ID=...; ROLLBACK=1)
	@test -n "$(ID)" || { echo "usage: make show-migration ID=0002_users [ROLLBACK=1]" >&2; exit 2; }
	@$(CLI) show $(ID) $(if $(ROLLBACK),--rollback)

.PHONY: new-migration
new-migration: $(VENV)/.installed ## create migrations/NNNN_$(NAME).sql and its rollback (NAME=...)
	@test -n "$(NAME)" || { echo "usage: make new-migration NAME=add_something" >&2; exit 2; }
	$(CLI) new $(NAME)

.PHONY: seed
seed: $(VENV)/.installed ## load development data from seeds/ (refused in production)
	$(CLI) seed

.PHONY: reset
reset: $(VENV)/.installed ## roll back every migration and apply again (asks; YES=1 skips)
	$(CLI) reset $(if $(YES),--yes)

.PHONY: types
types: $(VENV)/.installed ## regenerate the typed query modules from the live schema (scratch database)
	@for p in $(PROJECTS); do echo "== $$p"; $(CLI) --project $$p types || exit 1; done

.PHONY: check
check: $(VENV)/.installed check-generated ## per project: prove rollbacks, prepare queries, types fresh
	@for p in $(PROJECTS); do echo "== $$p"; $(CLI) --project $$p check || exit 1; done

.PHONY: stats
stats: $(VENV)/.installed ## per named query (pg_stat_statements), tables, unused indexes, connections, locks (JSON=1)
	$(CLI) stats $(if $(JSON),--json)

.PHONY: explain
explain: $(VENV)/.installed ## the plan of a named query (Q=users.get_user P="email=a@b.c"; ANALYZE=1: run it, rolled back)
	@test -n "$(Q)" || { echo 'usage: make explain Q=users.get_user_by_email [P="email=a@b.c ..."] [ANALYZE=1]' >&2; exit 2; }
	@$(CLI) explain $(Q) $(foreach p,$(P),-p $(p)) $(if $(ANALYZE),--analyze)

.PHONY: lint-migrations
lint-migrations: $(VENV)/.installed ## squawk on every project's migrations: file:line and rule (no database)
	@for p in $(PROJECTS); do echo "== $$p"; $(CLI) --project $$p lint-migrations || exit 1; done

.PHONY: consumer
consumer: $(VENV)/.installed ## a new project outside the repo adopts the toolkit (editable and wheel): init, types, check, migrate, mypy, pytest
	tools/consumer.sh

.PHONY: pgbouncer
pgbouncer: ## install PgBouncer from the distribution, if missing (tests start their own; without it they skip)
	@if command -v pgbouncer >/dev/null; then echo "pgbouncer: $$(pgbouncer --version | head -1)"; \
	elif ! command -v apt-get >/dev/null; then echo "pgbouncer: not installed and no apt-get; its tests will skip"; \
	else sudo=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); \
		$$sudo apt-get install -y -q pgbouncer >/dev/null \
			|| { $$sudo apt-get update -q >/dev/null && $$sudo apt-get install -y -q pgbouncer >/dev/null; }; \
		if [ -d /run/systemd/system ]; then $$sudo systemctl disable --now pgbouncer >/dev/null 2>&1 || true; fi; \
		echo "pgbouncer: installed $$(pgbouncer --version | head -1) (the system service stays off)"; fi

.PHONY: reliability
reliability: $(VENV)/.installed ## fault injection on servers of its own; prints the reliability table
	$(PY) -m pytest tests/reliability -m reliability -q

.PHONY: bench
bench: $(VENV)/.installed-bench ## benchmarks against psycopg, SQLAlchemy, asyncpg, pgbench; writes benchmarks/results.json
	$(PY) benchmarks/run.py

.PHONY: bench-quick
bench-quick: $(VENV)/.installed-bench ## the same, smaller (under a minute)
	$(PY) benchmarks/run.py --quick --out benchmarks/results-quick.json

.PHONY: db-start
db-start: $(VENV)/.installed ## start the embedded PostgreSQL (one per user and machine) and this project's database
	$(CLI) db start

.PHONY: db-stop
db-stop: $(VENV)/.installed ## stop the embedded PostgreSQL (every project's), also one left by a killed process
	$(CLI) db stop

.PHONY: db-status
db-status: $(VENV)/.installed ## the embedded server (URL, data folder) and each project's database with its size
	@$(CLI) db status

.PHONY: db-url
db-url: $(VENV)/.installed ## print the database URL in use (password masked)
	@$(CLI) db url

.PHONY: health
health: $(VENV)/.installed ## print the database health report
	$(CLI) health

# The embedded server is shared with other projects: clean drops the databases of this
# repository's projects on it, and leaves it running for them.
.PHONY: clean
clean: ## drop this repository's databases on the embedded server, delete .venv and caches
	-@test -x $(CLI) && $(CLI) db drop $(PROJECTS)
	rm -rf $(VENV) $(addsuffix /.persistence,$(PROJECTS)) .mypy_cache .ruff_cache .pytest_cache dist
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
