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


def pytest_sessionstart(session):  # type: ignore[no-untyped-def]
    import time

    session.config._torghut_t0 = time.monotonic()


def pytest_sessionfinish(session, exitstatus):  # type: ignore[no-untyped-def]
    """Record the whole run's wall time for bench/sandbox.py (only for full runs)."""
    import time
    from pathlib import Path

    full_run = session.config.args_source.name == "TESTPATHS"
    if not full_run or session.config.option.markexpr:
        return
    elapsed = time.monotonic() - session.config._torghut_t0
    record = Path(session.config.rootpath) / ".pytest_cache" / "torghut-wall-time"
    record.parent.mkdir(exist_ok=True)
    record.write_text(f"{elapsed:.0f} s, {session.testscollected} tests, exit {exitstatus}\n")
