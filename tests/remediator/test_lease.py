"""Leader election against the Kubernetes stand-in (sandbox.kube: Lease create-on-update, 409 on
a stale resourceVersion, 422 without one), through kubernetes_asyncio as on a real cluster.

The keepers use the stand-in's admin token: the chart's remediator Role does not grant the
Lease verbs yet (they come with the actuators' Role). Durations are short; every wait polls an
observable state with a generous deadline and no assertion is about elapsed time."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from kubernetes_asyncio import client, config
from prometheus_client import generate_latest
from remediator_kit import remediator_data

from remediator.actuators import NotLeader
from remediator.config import (
    ConfigError,
    LeaseConfig,
    RemediatorConfig,
    parse_remediator_config,
)
from remediator.lease import LeaseKeeper, lease_namespace, micro_time
from remediator.metrics import RemediatorMetrics
from sandbox.testing.kube import KubeSandbox

NS = "torghut-ta-ops"
NAME = LeaseConfig().name
PATH = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/{NAME}"
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def until(what: str, check: Callable[[], bool | Awaitable[bool]], deadline: float = 60):
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        got = check()
        if got if isinstance(got, bool) else await got:
            return
        if loop.time() > end:
            pytest.fail(f"not within {deadline}s: {what}")
        await asyncio.sleep(0.05)


async def api_client(kube_api: KubeSandbox) -> client.ApiClient:
    conf = client.Configuration()
    await config.load_kube_config(config_file=str(kube_api.kubeconfig), client_configuration=conf)
    return client.ApiClient(configuration=conf)


@pytest_asyncio.fixture
async def keepers(kube_api: KubeSandbox) -> AsyncIterator[Callable[..., Awaitable[LeaseKeeper]]]:
    """make(identity, duration=2, renew_every=0.5) -> a keeper with its own API client."""
    apis: list[client.ApiClient] = []

    async def make(identity: str, duration: float = 2, renew_every: float = 0.5) -> LeaseKeeper:
        api = await api_client(kube_api)
        apis.append(api)
        return LeaseKeeper(
            api,
            namespace=NS,
            name=NAME,
            identity=identity,
            duration=duration,
            renew_every=renew_every,
        )

    yield make
    for api in apis:
        await api.close()


@pytest_asyncio.fixture
async def tasks() -> AsyncIterator[Callable[[Awaitable[Any]], asyncio.Task[Any]]]:
    started: list[asyncio.Task[Any]] = []

    def start(coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        started.append(task)
        return task

    yield start
    for task in started:
        task.cancel()
    await asyncio.gather(*started, return_exceptions=True)


async def acquire(keeper: LeaseKeeper) -> None:
    """Step until the keeper leads (a missing Lease is created only after a lease duration)."""

    async def stepped() -> bool:
        assert await keeper.step()
        return keeper.holds()

    await until(f"{keeper.identity} leads", stepped)


def lease_of(kube_api: KubeSandbox) -> dict[str, Any]:
    code, body = kube_api.raw("GET", PATH)
    assert code == 200, body
    return dict(body)


def holder(kube_api: KubeSandbox) -> str | None:
    code, body = kube_api.raw("GET", PATH)
    return body["spec"].get("holderIdentity") if code == 200 else None


async def test_one_keeper_acquires_and_writes_the_lease_as_the_api_server_would(
    kube_api: KubeSandbox, keepers: Callable[..., Awaitable[LeaseKeeper]]
) -> None:
    a = await keepers("a")
    with pytest.raises(NotLeader, match=f"Lease {NS}/{NAME}"):
        a.fence()  # never ran: unknown is never the leader
    assert await a.step()
    assert not a.holds() and holder(kube_api) is None  # no Lease yet: it waits a duration
    await acquire(a)
    a.fence()
    first = lease_of(kube_api)
    spec = first["spec"]
    assert spec["holderIdentity"] == "a" and spec["leaseDurationSeconds"] == 2
    assert spec["leaseTransitions"] == 0
    assert MICRO_TIME.match(spec["renewTime"]) and MICRO_TIME.match(spec["acquireTime"])

    assert await a.step()  # a renewal: same acquireTime, a new version
    renewed = lease_of(kube_api)
    assert renewed["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]
    assert renewed["spec"]["acquireTime"] == spec["acquireTime"]
    assert renewed["spec"]["renewTime"] >= spec["renewTime"]
    assert renewed["spec"]["leaseTransitions"] == 0


async def test_a_second_keeper_takes_over_only_after_the_first_stops_renewing(
    kube_api: KubeSandbox,
    keepers: Callable[..., Awaitable[LeaseKeeper]],
    tasks: Callable[[Awaitable[Any]], asyncio.Task[Any]],
) -> None:
    # a duration far above the renew interval: on a loaded machine a's renewals may be late by
    # seconds, and a late renewal is rightly a lost Lease (once seen failing at duration=4)
    a, b = await keepers("a", duration=12), await keepers("b", duration=12)
    run_a = tasks(a.run())
    await until("a holds", a.holds)
    tasks(b.run())
    versions: set[str] = set()

    async def renewing() -> bool:
        assert not b.holds(), "b leads while a renews"
        lease = await asyncio.to_thread(lease_of, kube_api)  # never stalls a's renewals
        assert lease["spec"]["holderIdentity"] == "a"
        versions.add(lease["metadata"]["resourceVersion"])
        return len(versions) >= 6  # a renewed while b watched

    await until("a renews eight times", renewing)
    acquired = lease_of(kube_api)["spec"]["acquireTime"]

    run_a.cancel()  # a stops renewing (without releasing): b must wait the lease out
    await asyncio.gather(run_a, return_exceptions=True)
    assert not a.holds()  # a stopped loop no longer leads

    def b_leads() -> bool:
        assert not (a.holds() and b.holds())
        return b.holds()

    await until("b takes over", b_leads)
    spec = lease_of(kube_api)["spec"]
    assert spec["holderIdentity"] == "b"
    assert spec["leaseTransitions"] == 1
    assert spec["acquireTime"] != acquired


async def test_a_takeover_between_plan_and_act_makes_fence_raise(
    kube_api: KubeSandbox,
    keepers: Callable[..., Awaitable[LeaseKeeper]],
    tasks: Callable[[Awaitable[Any]], asyncio.Task[Any]],
) -> None:
    a, b = await keepers("a"), await keepers("b")
    await acquire(a)
    a.fence()  # "plan": a leads; then a's renewals stall (a paused process)
    tasks(b.run())

    def b_leads() -> bool:
        # a never learnt of b, yet it stops leading before b may start
        assert not (a.holds() and b.holds())
        return b.holds()

    await until("b takes over", b_leads)
    assert holder(kube_api) == "b"
    with pytest.raises(NotLeader):
        a.fence()  # "act": refused
    assert await a.step()  # a wakes up, sees b, and stays out
    assert not a.holds() and holder(kube_api) == "b"
    with pytest.raises(NotLeader, match="held by b"):
        a.fence()


async def test_racing_keepers_never_both_lead(
    kube_api: KubeSandbox,
    keepers: Callable[..., Awaitable[LeaseKeeper]],
    tasks: Callable[[Awaitable[Any]], asyncio.Task[Any]],
) -> None:
    racers = [await keepers(name) for name in ("a", "b", "c")]
    runs = {k.identity: tasks(k.run()) for k in racers}
    leaders: list[str] = []

    def leading(count: int) -> Callable[[], bool]:
        def check() -> bool:
            now = [k.identity for k in racers if k.holds()]
            assert len(now) <= 1, f"{now} lead at once"
            leaders.extend(n for n in now if n not in leaders)
            return len(leaders) >= count

        return check

    await until("someone leads", leading(1))
    first = leaders[0]
    assert holder(kube_api) == first
    runs[first].cancel()  # the leader dies: one of the others takes over
    await until("a second leader", leading(2))
    second = leaders[1]
    assert second != first and holder(kube_api) == second
    assert lease_of(kube_api)["spec"]["leaseTransitions"] == 1


async def test_a_skewed_holder_clock_does_not_keep_or_lose_the_lease(
    kube_api: KubeSandbox,
    kube_client: client.ApiClient,
    keepers: Callable[..., Awaitable[LeaseKeeper]],
    tasks: Callable[[Awaitable[Any]], asyncio.Task[Any]],
) -> None:
    """Only changes to the Lease, timed on our own clock, count: renewTime is the holder's."""
    api = client.CoordinationV1Api(kube_client)
    past = micro_time(datetime.now(UTC) - timedelta(days=1))
    future = micro_time(datetime.now(UTC) + timedelta(days=1))
    lease = await api.replace_namespaced_lease(  # create-on-update
        NAME,
        NS,
        {
            "metadata": {"name": NAME},
            "spec": {
                "holderIdentity": "slow-clock",
                "leaseDurationSeconds": 2,
                "acquireTime": past,
                "renewTime": past,
            },
        },
    )
    b = await keepers("b")
    tasks(b.run())
    # a holder whose clock is a day behind but who keeps renewing keeps the Lease (each renewal
    # writes its own clock's time: an unchanged body would be a no-op, no new version)
    for _ in range(12):
        lease = await api.replace_namespaced_lease(
            NAME,
            NS,
            {
                "metadata": {"name": NAME, "resourceVersion": lease.metadata.resource_version},
                "spec": {
                    "holderIdentity": "slow-clock",
                    "leaseDurationSeconds": 2,
                    "acquireTime": past,
                    "renewTime": micro_time(datetime.now(UTC) - timedelta(days=1)),
                },
            },
        )
        assert not b.holds()
        await asyncio.sleep(0.3)  # the holder's renew period, not a synchronisation
    assert holder(kube_api) == "slow-clock" and not b.holds()
    assert b.transitions == 0

    # a holder whose clock is a day ahead and who stopped renewing loses it all the same
    await api.replace_namespaced_lease(
        NAME,
        NS,
        {
            "metadata": {"name": NAME, "resourceVersion": lease.metadata.resource_version},
            "spec": {
                "holderIdentity": "fast-clock",
                "leaseDurationSeconds": 2,
                "acquireTime": future,
                "renewTime": future,
            },
        },
    )
    await until("b takes over from fast-clock", b.holds)
    spec = lease_of(kube_api)["spec"]
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1


async def test_an_unreachable_api_ends_leadership_after_the_margin(
    kube_api: KubeSandbox,
    keepers: Callable[..., Awaitable[LeaseKeeper]],
    tasks: Callable[[Awaitable[Any]], asyncio.Task[Any]],
) -> None:
    a = await keepers("a")
    metrics = RemediatorMetrics()
    a.bind_gauge(metrics.leader)
    tasks(a.run())
    await until("a holds", a.holds)
    assert b"torghut_ta_remediator_leader 1.0" in generate_latest(metrics.registry)

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    a.api.api_client.configuration.host = f"https://127.0.0.1:{closed}"
    await until("a stops leading", lambda: not a.holds())
    with pytest.raises(NotLeader):
        a.fence()
    assert b"torghut_ta_remediator_leader 0.0" in generate_latest(metrics.registry)
    assert holder(kube_api) == "a"  # the Lease still says a: a does not know, so it does not act


async def test_release_hands_over_without_a_wait(
    kube_api: KubeSandbox,
    keepers: Callable[..., Awaitable[LeaseKeeper]],
) -> None:
    # one step of b suffices: b does not wait for a's Lease to expire
    a, b = await keepers("a", duration=3, renew_every=1), await keepers("b", duration=60)
    await acquire(a)
    await a.release()
    assert not a.holds()
    assert lease_of(kube_api)["spec"].get("holderIdentity") is None
    assert await a.step() and not a.holds()  # released for good
    assert await b.step() and b.holds()
    spec = lease_of(kube_api)["spec"]
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1
    await a.release()  # not the holder: leaves b's Lease alone
    assert holder(kube_api) == "b" and b.holds()


async def test_a_deleted_lease_is_not_recreated_while_its_holder_may_still_act(
    kube_api: KubeSandbox,
    keepers: Callable[..., Awaitable[LeaseKeeper]],
) -> None:
    a, b = await keepers("a"), await keepers("b")
    await acquire(a)
    assert await b.step() and not b.holds()
    code, body = kube_api.raw("DELETE", PATH)  # a person "unsticks" the election
    assert code == 200, body
    assert await b.step()
    assert not b.holds() and holder(kube_api) is None  # b waits: a may still be acting
    assert await a.step()
    assert not a.holds()  # a stops at once when it sees the Lease gone

    async def one_leads() -> bool:
        assert await a.step() and await b.step()
        assert not (a.holds() and b.holds())
        return a.holds() or b.holds()

    await until("one of them leads again", one_leads)
    assert holder(kube_api) in ("a", "b")


def test_lease_config_defaults_and_errors(tmp_path: Path) -> None:
    def parse(lease: dict[str, Any]) -> RemediatorConfig:
        data = remediator_data(tmp_path)
        data["remediator"]["lease"] = lease
        return parse_remediator_config(data)

    cfg = parse_remediator_config(remediator_data(tmp_path)).remediator.lease
    assert (cfg.name, cfg.duration, cfg.renew_every) == ("torghut-ta-remediator", 15.0, 5.0)
    parsed = parse({"duration": "30s", "renew_every": "10s", "namespace": "ops"})
    assert parsed.remediator.lease.duration == 30.0
    assert lease_namespace(parsed.remediator.lease) == "ops"
    for bad, message in (
        ({"renew_every": "6s"}, "at most a third of duration"),
        ({"duration": "1500ms"}, "duration: whole seconds"),
        ({"renew_every": 0}, "above 0"),
    ):
        with pytest.raises(ConfigError, match=message) as err:
            parse(bad)
        assert "remediator.lease" in str(err.value)
    sa = tmp_path / "namespace"
    with pytest.raises(ValueError, match=r"remediator\.lease\.namespace: not set"):
        lease_namespace(LeaseConfig(), sa)
    sa.write_text("torghut-ta-ops\n")
    assert lease_namespace(LeaseConfig(), sa) == "torghut-ta-ops"
