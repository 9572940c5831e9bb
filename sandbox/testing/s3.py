"""pytest fixtures for the sandbox's s3 service (moto_server with a backdate hook)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox import s3
from sandbox.testing import service_factory
from sandbox.util import Service

_bucket_counter = itertools.count()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One open (any credentials) S3 server for the session; never turn its auth on."""
    service = s3.launch(tmp_path_factory.mktemp("s3"))
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def s3_endpoint(s3_server: Service) -> str:
    return s3_server.endpoints["s3"]


@pytest.fixture
def s3_factory(tmp_path: Path) -> Iterator[Callable[[], Service]]:
    """Start dedicated S3 servers (e.g. to `enable_auth` on); all stopped at teardown."""
    with service_factory(s3.launch, tmp_path, "s3") as start:
        yield start


@pytest.fixture
def unique_bucket() -> str:
    """A bucket name no other test in this session uses (not created)."""
    return f"bucket-{next(_bucket_counter)}"
