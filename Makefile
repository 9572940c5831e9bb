# The two commands of the README: `make sandbox` (the demo) and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SANDBOX_DIR ?= .sandbox
# the demo's alert rules: real (as shipped) or fast (`for` and age bounds / 5, sandbox/alert_pace.py)
ALERT_PACE ?= real

.PHONY: deps sandbox sandbox-down sandbox-status test test-gameday test-fast lint constraints bench bench-closed-loop clean rules

deps:
	@scripts/ensure-deps.sh

# the demo: remediator in auto, ClickHouse on a 64M disk (root), URLs and what to try next
sandbox: deps
	$(VENV)/bin/ta-sandbox up --dir $(SANDBOX_DIR) --demo --alert-pace $(ALERT_PACE)

sandbox-down:
	$(VENV)/bin/ta-sandbox down --dir $(SANDBOX_DIR)

sandbox-status:
	$(VENV)/bin/ta-sandbox status --dir $(SANDBOX_DIR) --json

test: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -ra --durations=25 $(XDIST)

# Two workers, a module whole on one (its stack fixtures are shared by its tests), the longest
# modules first (tests/conftest.py): the suite mostly waits on real services, so two workers
# fit the game days in CI's hour on 2 cores. XDIST= runs it in one process.
XDIST ?= -n 2 --dist loadfile --no-loadscope-reorder

# only the game days (a demo stack per module, about 25 min on 2 cores in one process)
test-gameday: deps
	$(PY) -m pytest -q -ra --durations=15 -m gameday

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

# the closed loop per scenario at the fast and realistic presets (root; about half an hour)
bench-closed-loop: deps
	$(PY) bench/closed_loop.py

clean:
	rm -rf $(VENV) $(SANDBOX_DIR) .pytest_cache .ruff_cache
