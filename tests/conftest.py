"""Loads the sandbox's fixtures: every test talks to the same real services the demo runs."""

pytest_plugins = [
    "sandbox.testing.clickhouse",
    "sandbox.testing.kube",
    "sandbox.testing.kafka",
    "sandbox.testing.prometheus",
    "sandbox.testing.s3",
    "sandbox.testing.flink",
    "sandbox.testing.stack",
    "sandbox.testing.pki",
    "sandbox.testing.github",
]


# Under `pytest -n 2 --dist loadfile` (make test) each module runs whole on one worker, in the
# order collected: the longest modules go first so that neither worker is left with a
# long module at the end (ordered by their durations in CI runs).
LONGEST_FIRST = (
    "tests/sandbox/test_scenarios_e2e.py",
    "tests/remediator/test_e2e_fault_matrix.py",
    "tests/sandbox/test_scenario_realistic_e2e.py",
    "tests/remediator/test_e2e_procedure_b.py",
    "tests/sandbox/test_scenarios_replicated_e2e.py",
    "tests/remediator/test_e2e_procedure_a.py",
    "tests/remediator/test_e2e_procedure_c.py",
    "tests/sandbox/test_scenario_replay_e2e.py",
    "tests/remediator/test_e2e_guards.py",
    "tests/remediator/test_e2e_procedure_a_propose.py",
    "tests/remediator/test_e2e_ui.py",
)


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    """Longest modules first (a stable sort: the order inside a module is kept)."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}

    def key(item):  # type: ignore[no-untyped-def]
        path = item.nodeid.split("::", 1)[0]
        return rank.get(path, len(rank))

    items.sort(key=key)


def pytest_sessionstart(session):  # type: ignore[no-untyped-def]
    import time

    session.config._torghut_t0 = time.monotonic()


def pytest_sessionfinish(session, exitstatus):  # type: ignore[no-untyped-def]
    """Record the whole run's wall time for bench/sandbox.py (only for full runs)."""
    import time
    from pathlib import Path

    full_run = session.config.args_source.name == "TESTPATHS"
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller records
        return
    if not full_run or session.config.option.markexpr:
        return
    elapsed = time.monotonic() - session.config._torghut_t0
    record = Path(session.config.rootpath) / ".pytest_cache" / "torghut-wall-time"
    record.parent.mkdir(exist_ok=True)
    record.write_text(f"{elapsed:.0f} s, {session.testscollected} tests, exit {exitstatus}\n")
