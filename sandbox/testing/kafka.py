"""pytest fixtures for the sandbox's kafka service (Apache Kafka, one KRaft node).

kafka_service / kafka_bootstrap: one broker shared by the session (PLAINTEXT bootstrap; the
service's endpoints also name the SASL/SCRAM and SSL listeners and the CA file).
kafka_factory: extra brokers started per test. unique_topic, trades_topic: fresh topics.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox import kafka
from sandbox.testing import service_factory
from sandbox.util import Service

_topic_counter = itertools.count()


@pytest.fixture(scope="session")
def kafka_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One broker shared by the session (use unique topic/group names)."""
    service = kafka.launch(tmp_path_factory.mktemp("kafka"))
    try:
        asyncio.run(kafka.wait_group_coordinator(service.endpoints["kafka_bootstrap"]))
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_service: Service) -> str:
    return kafka_service.endpoints["kafka_bootstrap"]


@pytest.fixture
def kafka_factory(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Start extra brokers (e.g. to stop and restart one); all stopped at teardown."""
    with service_factory(kafka.launch, tmp_path, "kafka") as start:
        yield start


@pytest.fixture
def unique_topic(request: pytest.FixtureRequest) -> str:
    """A topic name no other test in this session uses."""
    name = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]
    return f"t-{name}-{next(_topic_counter)}"


TRADES_RETENTION_MS = 7 * 24 * 3600 * 1000


@pytest.fixture
async def trades_topic(kafka_bootstrap: str, unique_topic: str) -> str:
    """A fresh, empty one-partition topic with a 7-day retention.ms, like TA_TRADES."""
    await kafka.create_topics(
        kafka_bootstrap, {unique_topic: kafka.TopicSpec(retention_ms=TRADES_RETENTION_MS)}
    )
    return unique_topic
