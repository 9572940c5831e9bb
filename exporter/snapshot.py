"""The latest result of every probe, and the live view of it that scrapes and reports read.

Policy: a failed run keeps the probe's last good samples; they stay exported until they are
older than the probe's staleness bound, then disappear, except the metrics the probe declares
`persist` (last known timestamps such as signal freshness): those stay exported with their last
value, so their age keeps growing and staleness alerts still fire while the source is unreadable;
`torghut_ta_probe_last_success_timestamp_seconds` says how old that knowledge is. The probe's own
health series (`torghut_ta_probe_*`) are always exported, whatever the age of its data.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from exporter.probes.base import Sample

Clock = Callable[[], float]


@dataclass(frozen=True)
class ProbeState:
    """What one probe last produced. Times are wall-clock seconds since the epoch."""

    name: str
    staleness: float
    persist: frozenset[str] = frozenset()
    samples: tuple[Sample, ...] = ()
    data_at: float | None = None  # when `samples` were collected (the last success)
    observed_at: float | None = None  # when the last run ended, successful or not
    duration: float | None = None
    error: str | None = None  # None after a success
    runs: int = 0
    # the probe's plain data behind `samples` (same age): facts no metric carries, e.g. an error text
    data: Any = None

    @property
    def success(self) -> bool:
        return self.runs > 0 and self.error is None

    def data_age(self, now: float) -> float | None:
        return None if self.data_at is None else now - self.data_at

    def is_stale(self, now: float) -> bool:
        age = self.data_age(now)
        return age is None or age > self.staleness


@dataclass(frozen=True)
class Series:
    """One live sample with where and when it came from."""

    labels: Mapping[str, str]
    value: float
    probe: str
    observed_at: float


@dataclass(frozen=True)
class View:
    """An immutable picture of the snapshot at `now`, with stale data already removed."""

    now: float
    version: int
    probes: Mapping[str, ProbeState]
    stale: frozenset[str]
    _by_metric: Mapping[str, tuple[Series, ...]] = field(default_factory=dict)

    def series(self, metric: str) -> tuple[Series, ...]:
        return self._by_metric.get(metric, ())

    def metrics(self) -> tuple[str, ...]:
        return tuple(self._by_metric)


class Snapshot:
    """Thread-safe store of probe states; every change bumps `version`."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, ProbeState] = {}
        self._version = 0

    @property
    def version(self) -> int:
        return self._version

    def register(
        self, name: str, *, staleness: float, persist: frozenset[str] = frozenset()
    ) -> None:
        with self._lock:
            if name in self._states:
                raise ValueError(f"probe {name!r} registered twice")
            self._states[name] = ProbeState(name=name, staleness=staleness, persist=persist)
            self._version += 1

    def record_success(
        self, name: str, samples: tuple[Sample, ...], *, duration: float, data: Any = None
    ) -> None:
        now = self.clock()
        with self._lock:
            state = self._states[name]
            self._states[name] = replace(
                state,
                samples=samples,
                data=data,
                data_at=now,
                observed_at=now,
                duration=duration,
                error=None,
                runs=state.runs + 1,
            )
            self._version += 1

    def record_failure(self, name: str, error: str, *, duration: float) -> None:
        now = self.clock()
        with self._lock:
            state = self._states[name]
            self._states[name] = replace(
                state, observed_at=now, duration=duration, error=error, runs=state.runs + 1
            )
            self._version += 1

    def states(self) -> dict[str, ProbeState]:
        with self._lock:
            return dict(self._states)

    def stale_probes(self, now: float | None = None) -> frozenset[str]:
        now = self.clock() if now is None else now
        with self._lock:
            return frozenset(n for n, s in self._states.items() if s.is_stale(now))

    def render_key(self, now: float | None = None) -> tuple[int, frozenset[str]]:
        """Changes exactly when rendered metrics would: a new result or a probe going stale."""
        now = self.clock() if now is None else now
        return (self.version, self.stale_probes(now))

    def view(self, now: float | None = None) -> View:
        now = self.clock() if now is None else now
        with self._lock:
            states = dict(self._states)
            version = self._version
        stale = frozenset(n for n, s in states.items() if s.is_stale(now))
        by_metric: dict[str, list[Series]] = {}
        for name, state in states.items():
            if state.data_at is None or (name in stale and not state.persist):
                continue
            for sample in state.samples:
                if name in stale and sample.name not in state.persist:
                    continue
                by_metric.setdefault(sample.name, []).append(
                    Series(sample.labels, sample.value, name, state.data_at)
                )
        return View(
            now=now,
            version=version,
            probes=states,
            stale=stale,
            _by_metric={k: tuple(v) for k, v in by_metric.items()},
        )
