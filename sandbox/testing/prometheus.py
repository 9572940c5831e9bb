"""pytest fixtures for the sandbox's Prometheus and Alertmanager (Debian binaries)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from sandbox import prometheus
from sandbox.testing import service_factory
from sandbox.util import Service


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """`start(**launch_prometheus options) -> Service`; every instance stopped at teardown."""
    with service_factory(prometheus.launch_prometheus, tmp_path, "prom") as start:
        yield start


@pytest.fixture
def alertmanager_factory(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """`start(config=dict|yaml) -> Service`; every instance stopped at teardown."""
    with service_factory(prometheus.launch_alertmanager, tmp_path, "am") as start:
        yield start


@pytest.fixture
async def webhook_receiver() -> AsyncIterator[prometheus.WebhookReceiver]:
    """A recording webhook (no auth) on a free loopback port."""
    async with prometheus.WebhookReceiver() as receiver:
        yield receiver
