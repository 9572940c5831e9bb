"""Scheduler: probes run concurrently under their timeouts; a hung probe delays nobody."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from exporter.config import parse_config
from exporter.probes.base import ProbeError, ProbeSpec, Sample
from exporter.scheduler import Scheduler, check_samples, describe_error
from exporter.server import Runtime
from exporter.snapshot import Snapshot
from sandbox.util import apoll_until, free_port

TABLE = "torghut_ta_table_last_event_timestamp_seconds"


def _spec(name: str, collect, *, interval=0.05, timeout=0.3, staleness=60.0, render=None):
    render = render or (lambda v: [Sample(TABLE, v, {"table": name})])
    return ProbeSpec(name, collect, render, interval, timeout, staleness)


def _counting() -> tuple[list[int], Callable[[], Awaitable[float]]]:
    runs = [0]

    async def fast() -> float:
        runs[0] += 1
        return float(runs[0])

    return runs, fast


async def _never() -> float:
    await asyncio.Event().wait()  # a backend that accepts and never answers
    return 0.0


async def test_a_hanging_probe_delays_neither_other_probes_nor_scrapes(config_data) -> None:
    runs, fast = _counting()
    snap = Snapshot()
    # the stuck probe's timeout is far beyond the test: everything below happens during its 1st run
    sched = Scheduler([_spec("fast", fast), _spec("stuck", _never, timeout=600.0)], snap)
    runtime = Runtime.create(parse_config(config_data()), snap, sched.ready)
    sched.start()
    try:
        await apoll_until(lambda: asyncio.sleep(0, runs[0] >= 5), timeout=60, what="5 fast runs")
        assert snap.states()["stuck"].runs == 0
        text = runtime.exposition().decode()  # what GET /metrics serves
        assert 'torghut_ta_probe_success{probe="stuck"} 0.0' in text
        assert f'{TABLE}{{table="fast"}}' in text
        assert not sched.ready.is_set()  # /readyz waits for every probe's first result
    finally:
        await sched.stop()


async def test_a_hanging_probe_fails_with_a_timeout_and_the_cycle_completes() -> None:
    _, fast = _counting()
    snap = Snapshot()
    sched = Scheduler([_spec("fast", fast), _spec("stuck", _never, timeout=0.5)], snap)
    sched.start()
    try:

        async def stuck_failed() -> bool:
            return snap.states()["stuck"].runs >= 1

        await apoll_until(stuck_failed, timeout=60, what="stuck probe timed out")
        state = snap.states()["stuck"]
        assert state.error == "timeout after 0.5s"
        assert not state.success
        assert state.duration is not None and state.duration >= 0.5  # not cut short
        assert sched.ready.is_set()
    finally:
        await sched.stop()


async def test_run_cycle_records_errors_and_sets_ready() -> None:
    async def broken() -> float:
        raise ProbeError("ClickHouse r1: Code: 60. DB::Exception: ... (UNKNOWN_TABLE)")

    async def fine() -> float:
        return 7.0

    snap = Snapshot()
    sched = Scheduler([_spec("a", broken), _spec("b", fine)], snap)
    await sched.run_cycle()
    states = snap.states()
    assert states["a"].error == "ClickHouse r1: Code: 60. DB::Exception: ... (UNKNOWN_TABLE)"
    assert states["b"].samples[0].value == 7.0
    assert sched.ready.is_set()


async def test_probe_recovers_after_failures() -> None:
    fail = True

    async def flaky() -> float:
        if fail:
            raise RuntimeError("backend down")
        return 1.0

    snap = Snapshot()
    spec = _spec("flaky", flaky)
    sched = Scheduler([spec], snap)
    await sched.run_probe(spec)
    assert snap.states()["flaky"].error == "RuntimeError: backend down"
    fail = False
    await sched.run_probe(spec)
    assert snap.states()["flaky"].success
    assert snap.states()["flaky"].runs == 2


async def test_render_errors_fail_the_probe_with_the_reason() -> None:
    async def value() -> float:
        return 1.0

    bad = _spec("bad", value, render=lambda v: [Sample("torghut_ta_nope", v, {})])
    snap = Snapshot()
    await Scheduler([bad], snap).run_cycle()
    assert snap.states()["bad"].error == "render: metric 'torghut_ta_nope' is not in the catalogue"


def test_check_samples_rejects_wrong_labels_and_duplicates() -> None:
    with pytest.raises(ProbeError, match=r"needs labels \['table'\]"):
        check_samples([Sample(TABLE, 1, {"symbol": "x"})])
    with pytest.raises(ProbeError, match="duplicate series"):
        check_samples([Sample(TABLE, 1, {"table": "x"}), Sample(TABLE, 2, {"table": "x"})])
    [ok] = check_samples([Sample(TABLE, 3, {"table": "x"})])
    assert ok.value == 3.0 and ok.labels == {"table": "x"}


async def test_describe_error_connection_refused_and_timeout() -> None:
    port = free_port()
    with pytest.raises(OSError) as info:
        await asyncio.open_connection("127.0.0.1", port)
    assert describe_error(info.value).startswith("connection refused")
    assert describe_error(TimeoutError(), timeout=5.0) == "timeout after 5s"


def test_duplicate_probe_names_are_refused() -> None:
    async def v() -> float:
        return 0.0

    with pytest.raises(ValueError, match="duplicate probe names"):
        Scheduler([_spec("x", v), _spec("x", v)], Snapshot())
