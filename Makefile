# Two commands: `make run` starts the whole product, `make test` checks it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The integration tier's PostgreSQL; its tests create and drop their own test database.
INTEGRATION_DATABASE_URL ?= postgresql://127.0.0.1:5432/orchestrator

.PHONY: install run test lint unit integration faults clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/python scripts/devstack.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

unit: install
	$(BIN)/pytest tests/unit

# Skips itself, and says so, where PostgreSQL or redis-server is missing, unless REQUIRE_SERVICES=1.
integration: install
	DATABASE_URL=$(INTEGRATION_DATABASE_URL) $(BIN)/pytest tests/integration

test: lint unit integration

# Ledger tests under faults (worker SIGKILLs, Redis down, PostgreSQL restarted, web processes killed),
# on a private PostgreSQL cluster and Redis: about 5 minutes. Run by .ci/run after `make test`.
faults: install
	mkdir -p var
	FAULTS_LEDGER_FILE=$${FAULTS_LEDGER_FILE:-var/faults-ledger.jsonl} $(BIN)/pytest tests/faults -s

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache

# Throughput and latency on a production-like stack on loopback (PostgreSQL, a private redis-server,
# gunicorn, Celery): about 10 minutes; results in bench/results/. QUICK=1 only checks the harness.
.PHONY: bench
bench: install
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.run $(if $(QUICK),--quick)
