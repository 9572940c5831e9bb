"""Shared fixtures for the exporter framework tests: a settable clock and a minimal config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.config import Config, parse_config
from sandbox.util import (
    Service,
    free_port,
    poll_until,
    port_open,
    python_module_args,
    spawn,
    stop_pid,
)


class FakeClock:
    """Wall clock the tests move by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def minimal_config(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "clickhouse": {"replicas": [{"name": "r1", "url": "http://127.0.0.1:8123"}]},
        "kafka": {"bootstrap_servers": ["127.0.0.1:9092"], "topics": ["torghut.trades.v1"]},
    }
    data.update(overrides)
    return data


@pytest.fixture
def cfg() -> Config:
    return parse_config(minimal_config())


@pytest.fixture
def config_data() -> Any:
    """Factory: the minimal valid config document, with top-level overrides."""
    return minimal_config


def start_clickhouse(workdir: Path, port: int | None = None) -> tuple[Service, str]:
    """A chdb-backed ClickHouse HTTP server (sandbox.clickhouse) as a background process."""
    port = port or free_port()
    log = workdir / f"clickhouse-{port}.log"
    proc = spawn(
        python_module_args(
            "sandbox.clickhouse", "--port", str(port), "--data-dir", str(workdir / f"data-{port}")
        ),
        log_path=log,
    )
    try:
        poll_until(lambda: port_open(port), timeout=90, interval=0.1, what="ClickHouse port")
    except TimeoutError:
        stop_pid(proc.pid)
        raise
    return Service("clickhouse", proc.pid, {"http": f"http://127.0.0.1:{port}"}, str(log)), (
        f"http://127.0.0.1:{port}"
    )


@pytest.fixture(scope="session")
def exporter_clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a session-wide sandbox ClickHouse for the exporter's live tests."""
    service, url = start_clickhouse(tmp_path_factory.mktemp("exporter-ch"))
    try:
        yield url
    finally:
        service.stop()


@pytest.fixture
def launch_clickhouse() -> Any:
    """`start_clickhouse(workdir, port=None) -> (Service, url)`; the caller stops the Service."""
    return start_clickhouse
