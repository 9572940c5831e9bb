# The two commands of the README: `make sandbox` (the demo) and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SANDBOX_DIR ?= .sandbox

.PHONY: deps sandbox sandbox-down sandbox-status test test-fast lint constraints bench clean rules

deps:
	@scripts/ensure-deps.sh

sandbox: deps
	$(VENV)/bin/ta-sandbox up --dir $(SANDBOX_DIR)
	$(VENV)/bin/ta-sandbox status --dir $(SANDBOX_DIR)

sandbox-down:
	$(VENV)/bin/ta-sandbox down --dir $(SANDBOX_DIR)

sandbox-status:
	$(VENV)/bin/ta-sandbox status --dir $(SANDBOX_DIR) --json

test: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -ra --durations=15

test-fast: deps
	$(PY) -m pytest -q -ra --durations=15 -m "not slow and not flink"

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Regenerate alerts/rules/*.yml from alerts/*.py and alerts/thresholds.yaml (tests/alerts
# fails while the committed file differs; `python -m alerts.build --check` says so too).
rules: deps
	$(PY) -m alerts.build

# The image installs exactly these versions; regenerate after changing dependencies.
constraints: deps
	$(PY) scripts/constraints.py > constraints.txt

bench: deps
	$(PY) bench/sandbox.py
	$(PY) bench/exporter.py
	$(PY) bench/remediator.py

clean:
	rm -rf $(VENV) $(SANDBOX_DIR) .pytest_cache .ruff_cache
