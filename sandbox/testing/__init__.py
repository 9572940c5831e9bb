"""pytest fixtures built on the sandbox (loaded by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandbox.util import Service


@contextmanager
def service_factory(
    launch: Callable[..., Service], workdir: Path, prefix: str
) -> Iterator[Callable[..., Service]]:
    """`start(**options)` launches a service in its own `workdir/<prefix>-N`; all stop on exit."""
    started: list[Service] = []

    def start(**options: Any) -> Service:
        service = launch(workdir / f"{prefix}-{len(started)}", **options)
        started.append(service)
        return service

    try:
        yield start
    finally:
        for service in reversed(started):
            service.stop()
