"""The probe contract: a probe collects plain data; rendering it as samples is a pure function."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.errors import ProbeError

__all__ = ["ProbeError", "ProbeSpec", "Sample"]


@dataclass(frozen=True)
class Sample:
    """One value of a metric named in `exporter.metrics.CATALOGUE`."""

    name: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProbeSpec:
    """How to run one probe: `collect` does the I/O (through clients), `render` is pure."""

    name: str
    collect: Callable[[], Awaitable[Any]]
    render: Callable[[Any], Iterable[Sample]]
    interval: float
    timeout: float
    staleness: float
    # metric names whose last good series stay exported after `staleness` (see snapshot.py)
    persist: frozenset[str] = frozenset()
