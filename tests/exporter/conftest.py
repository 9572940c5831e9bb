"""Shared fixtures for the exporter tests: a settable clock and a minimal config.

Live backends come from the sandbox's own fixtures (sandbox/testing/*.py), e.g. `clickhouse_server`.
"""

from __future__ import annotations

from typing import Any

import pytest

from exporter.config import Config, parse_config


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
