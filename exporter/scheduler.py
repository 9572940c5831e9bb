"""Runs every probe on its own interval, concurrently, each run bounded by the probe's timeout.

A probe never waits for another: each has its own task. A run that exceeds its timeout is
cancelled and recorded as a failure ("timeout after 5s"); scrapes only read the snapshot, so a
slow or dead backend delays nothing but its own probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from collections.abc import Iterable, Sequence

from exporter.metrics import CATALOGUE
from exporter.probes.base import ProbeError, ProbeSpec, Sample
from exporter.snapshot import Snapshot

log = logging.getLogger("exporter.scheduler")

_MAX_ERROR = 400


def _chain(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def describe_error(exc: BaseException, *, timeout: float | None = None) -> str:
    """One line an operator can act on, e.g. `timeout after 5s` or `connection refused (...)`."""
    if isinstance(exc, TimeoutError) and timeout is not None:
        return f"timeout after {timeout:g}s"
    if isinstance(exc, ProbeError):
        return str(exc)[:_MAX_ERROR]
    for link in _chain(exc):
        if isinstance(link, ConnectionRefusedError) or (
            isinstance(link, OSError) and link.errno == errno.ECONNREFUSED
        ):
            return f"connection refused ({str(exc).splitlines()[0][:200]})"
    text = " ".join(str(exc).split()) or repr(exc)
    return f"{type(exc).__name__}: {text}"[:_MAX_ERROR]


def check_samples(samples: Iterable[Sample]) -> tuple[Sample, ...]:
    """Samples as the collector needs them: catalogued names, exact label sets, no duplicates."""
    out: list[Sample] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for sample in samples:
        spec = CATALOGUE.get(sample.name)
        if spec is None:
            raise ProbeError(f"render: metric {sample.name!r} is not in the catalogue")
        if set(sample.labels) != set(spec.labels):
            raise ProbeError(
                f"render: {sample.name} needs labels {list(spec.labels)}, got {sorted(sample.labels)}"
            )
        key = (sample.name, tuple(str(sample.labels[k]) for k in spec.labels))
        if key in seen:
            raise ProbeError(f"render: duplicate series {sample.name}{dict(sample.labels)}")
        seen.add(key)
        labels = {k: str(sample.labels[k]) for k in spec.labels}
        out.append(Sample(sample.name, float(sample.value), labels))
    return tuple(out)


class Scheduler:
    """Owns one task per probe; `ready` is set once every probe has finished one run."""

    def __init__(self, specs: Sequence[ProbeSpec], snapshot: Snapshot) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate probe names: {sorted(names)}")
        self.specs = tuple(specs)
        self.snapshot = snapshot
        self.ready = asyncio.Event()
        self._done: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        for spec in self.specs:
            snapshot.register(spec.name, staleness=spec.staleness, persist=spec.persist)
        if not self.specs:
            self.ready.set()

    async def run_probe(self, spec: ProbeSpec) -> None:
        """One bounded run of one probe, recorded in the snapshot. Never raises (but cancels)."""
        started = time.perf_counter()
        previous = self.snapshot.states()[spec.name]
        try:
            async with asyncio.timeout(spec.timeout):
                data = await spec.collect()
            samples = check_samples(spec.render(data))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = describe_error(exc, timeout=spec.timeout)
            self.snapshot.record_failure(spec.name, error, duration=time.perf_counter() - started)
            if previous.error != error:
                log.warning("probe failed", extra={"probe": spec.name, "error": error})
        else:
            duration = time.perf_counter() - started
            self.snapshot.record_success(spec.name, samples, duration=duration, data=data)
            if previous.error is not None:
                log.info("probe recovered", extra={"probe": spec.name})
        self._done.add(spec.name)
        if len(self._done) == len(self.specs):
            self.ready.set()

    async def run_cycle(self) -> None:
        """Run every probe once, concurrently (the `report` command)."""
        await asyncio.gather(*(self.run_probe(spec) for spec in self.specs))

    async def _loop(self, spec: ProbeSpec) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            await self.run_probe(spec)
            next_at += spec.interval
            delay = next_at - loop.time()
            if delay < 0:  # a run overran its interval: start again now, do not pile up
                next_at, delay = loop.time(), 0.0
            await asyncio.sleep(delay)

    def start(self) -> None:
        if self._tasks:
            raise RuntimeError("scheduler already started")
        self._tasks = [
            asyncio.create_task(self._loop(spec), name=f"probe:{spec.name}") for spec in self.specs
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
