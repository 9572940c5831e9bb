"""FlinkDeployment, trading switch, TA group id and checkpoint dir probes against the Kubernetes
API stand-in (sandbox.kube, real HTTP, simulated operator); faults from a small fake API server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from exporter.clients.kube import KubeError, get_flinkdeployment, open_api
from exporter.config import Config, KubernetesConfig, parse_config
from exporter.families import checkpoints, flink, trading
from exporter.families.k8s import KubeAccess
from exporter.families.kafka import configmap_group
from exporter.probes.base import ProbeSpec
from sandbox import s3 as sandbox_s3
from sandbox.kube.launcher import write_kubeconfig
from sandbox.util import apoll_until

NS, FD = "torghut", "torghut-ta"
FD_PATH = f"/apis/flink.apache.org/v1beta1/namespaces/{NS}/flinkdeployments/{FD}"
KSVC_PATH = f"/apis/serving.knative.dev/v1/namespaces/{NS}/services/torghut"
CM_PATH = f"/api/v1/namespaces/{NS}/configmaps/torghut-ta-config"
MERGE = "application/merge-patch+json"


def _cfg(config_data: Any, kubeconfig: Path, **extra: Any) -> Config:
    return parse_config(
        config_data(kubernetes={"kubeconfig": str(kubeconfig), "request_timeout": 3}, **extra)
    )


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


def _by_name(specs: list[ProbeSpec]) -> dict[str, ProbeSpec]:
    return {s.name: s for s in specs}


def _values(spec: ProbeSpec, data: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in spec.render(data)}


async def test_flink_deployment_probe_matches_the_live_object_and_follows_a_failure(
    kube_api, config_data, stack
) -> None:
    cfg = _cfg(config_data, kube_api.kubeconfig)
    probe = _by_name(await flink.build(cfg, stack=stack))["flink_deployment"]

    async def stable() -> Any:
        _, obj = kube_api.raw("GET", FD_PATH)
        return obj if (obj.get("status") or {}).get("lifecycleState") == "STABLE" else None

    obj = await apoll_until(stable, timeout=20, what="simulated operator reports STABLE")
    data = await probe.collect()
    assert data.job_state == obj["status"]["jobStatus"]["state"]
    assert data.lifecycle_state == obj["status"]["lifecycleState"]
    assert data.restart_nonce == obj["spec"]["restartNonce"]
    assert data.desired_running is (obj["spec"]["job"]["state"] == "running")
    assert data.checkpoints_dir == obj["spec"]["flinkConfiguration"]["state.checkpoints.dir"]

    kube_api.fail_job("Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space")
    failed = await apoll_until(lambda: _failed(probe), timeout=60, what="probe sees the job FAILED")
    assert failed.lifecycle_state == "FAILED"
    assert "not enough space" in (failed.error_message or "")
    values = _values(probe, failed)
    state = ("deployment", FD)
    assert values[("torghut_ta_flink_job_state", (state, ("state", "FAILED")))] == 1
    assert values[("torghut_ta_flink_job_state", (state, ("state", "RUNNING")))] == 0
    assert values[("torghut_ta_flink_lifecycle_state", (state, ("state", "FAILED")))] == 1


async def _failed(probe: ProbeSpec) -> Any:
    data = await probe.collect()
    return data if data.job_state == "FAILED" else None


async def test_suspend_and_nonce_bump_show_in_desired_state_and_nonce(
    kube_api, config_data, stack
) -> None:
    cfg = _cfg(config_data, kube_api.kubeconfig)
    probe = _by_name(await flink.build(cfg, stack=stack))["flink_deployment"]
    before = await probe.collect()
    kube_api.raw(
        "PATCH",
        FD_PATH,
        {"spec": {"job": {"state": "suspended"}, "restartNonce": (before.restart_nonce or 0) + 1}},
        content_type=MERGE,
    )
    after = await probe.collect()
    assert not after.desired_running
    assert after.restart_nonce == (before.restart_nonce or 0) + 1
    values = _values(probe, after)
    assert values[("torghut_ta_flink_job_desired_running", (("deployment", FD),))] == 0
    assert values[("torghut_ta_flink_restart_nonce", (("deployment", FD),))] == after.restart_nonce


async def test_trading_switch_reads_the_knative_env_and_its_changes(
    kube_api, config_data, stack
) -> None:
    cfg = _cfg(config_data, kube_api.kubeconfig)
    probe = _by_name(await trading.build(cfg, stack=stack))["trading"]
    _, svc = kube_api.raw("GET", KSVC_PATH)
    (env,) = [
        e
        for c in svc["spec"]["template"]["spec"]["containers"]
        for e in c.get("env", [])
        if e["name"] == "TRADING_ENABLED"
    ]
    data = await probe.collect()
    assert data.raw == env["value"]
    assert data.enabled is (env["value"].lower() == "true")

    containers = svc["spec"]["template"]["spec"]["containers"]
    for c in containers:
        for e in c.get("env", []):
            if e["name"] == "TRADING_ENABLED":
                e["value"] = "false"
    kube_api.raw(
        "PATCH",
        KSVC_PATH,
        {"spec": {"template": {"spec": {"containers": containers}}}},
        content_type=MERGE,
    )
    off = await probe.collect()
    assert off.enabled is False
    assert [s.value for s in probe.render(off)] == [0.0]


async def test_group_id_follows_the_live_configmap(kube_api, config_data, stack) -> None:
    cfg = _cfg(config_data, kube_api.kubeconfig)
    kube = KubeAccess(cfg.kubernetes)
    stack.push_async_callback(kube.close)
    group_of = configmap_group(cfg, kube)
    _, cm = kube_api.raw("GET", CM_PATH)
    assert (await group_of())[0] == cm["data"]["TA_GROUP_ID"]
    kube_api.raw(
        "PATCH", CM_PATH, {"data": {"TA_GROUP_ID": "torghut-ta-replay-7"}}, content_type=MERGE
    )
    group, source = await group_of()
    assert group == "torghut-ta-replay-7"
    assert "torghut-ta-config" in source


async def test_checkpoint_probe_lists_the_dir_named_by_the_live_deployment(
    kube_api, config_data, stack, s3_endpoint, unique_bucket, monkeypatch
) -> None:
    monkeypatch.setenv("CKPT_KEY", "test")
    monkeypatch.setenv("CKPT_SECRET", "test")
    cfg = _cfg(
        config_data,
        kube_api.kubeconfig,
        checkpoint_storage={
            "endpoint_url": s3_endpoint,
            "access_key_id": {"env": "CKPT_KEY"},
            "secret_access_key": {"env": "CKPT_SECRET"},
        },
    )
    uri = f"s3a://{unique_bucket}/ckpt/torghut-ta"
    kube_api.raw(
        "PATCH",
        FD_PATH,
        {"spec": {"flinkConfiguration": {"state.checkpoints.dir": uri}}},
        content_type=MERGE,
    )
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=4)
    stored = sandbox_s3.put_checkpoints(
        s3_endpoint, uri.replace("s3a", "s3"), "b" * 32, [3], written_at=[when]
    )
    probe = _by_name(await checkpoints.build(cfg, stack=stack))["checkpoint_storage"]
    data = await probe.collect()
    assert data.up and data.uri == uri
    assert data.newest_write == stored[0].last_modified.timestamp() == when.timestamp()

    kube_api.raw(
        "PATCH",
        FD_PATH,
        {
            "spec": {
                "flinkConfiguration": {"state.checkpoints.dir": "s3://bucket-that-is-not-there/x"}
            }
        },
        content_type=MERGE,
    )
    gone = await probe.collect()
    assert not gone.up and "NoSuchBucket" in (gone.reason or "")


async def test_checkpoint_probe_finds_the_live_jobs_checkpoint_among_many_job_dirs(
    kube_api, config_data, stack, s3_endpoint, unique_bucket, monkeypatch
) -> None:
    """Job ids are random: 30 finished jobs whose ids sort first would use up the listing
    budget; the probe walks the directory of status.jobStatus.jobId first."""
    monkeypatch.setenv("CKPT_KEY", "test")
    monkeypatch.setenv("CKPT_SECRET", "test")
    cfg = _cfg(
        config_data,
        kube_api.kubeconfig,
        checkpoint_storage={
            "endpoint_url": s3_endpoint,
            "access_key_id": {"env": "CKPT_KEY"},
            "secret_access_key": {"env": "CKPT_SECRET"},
        },
    )
    uri = f"s3://{unique_bucket}/ckpt/torghut-ta"
    kube_api.raw(
        "PATCH",
        FD_PATH,
        {"spec": {"flinkConfiguration": {"state.checkpoints.dir": uri}}},
        content_type=MERGE,
    )

    async def job_id() -> str | None:
        _, obj = kube_api.raw("GET", FD_PATH)
        return ((obj.get("status") or {}).get("jobStatus") or {}).get("jobId")

    live = await apoll_until(job_id, timeout=20, what="simulated operator sets a jobId")
    now = datetime.now(UTC).replace(microsecond=0)
    for i in range(30):
        old = f"{i:032x}"
        assert old != live
        sandbox_s3.put_checkpoints(
            s3_endpoint, uri, old, [1], written_at=[now - timedelta(hours=3)]
        )
    stored = sandbox_s3.put_checkpoints(s3_endpoint, uri, live, [8], written_at=[now])
    probe = _by_name(await checkpoints.build(cfg, stack=stack))["checkpoint_storage"]
    data = await probe.collect()
    assert data.up and data.job_id == live and data.truncated
    assert data.newest_write == stored[0].last_modified.timestamp()
    values = {s.name: s.value for s in probe.render(data)}
    assert values["torghut_ta_checkpoint_storage_walk_truncated"] == 1


class FakeApi:
    """A Kubernetes-shaped server whose answer the test switches: ok, 500, or hang."""

    def __init__(self, good: dict[str, Any]) -> None:
        self.mode = "ok"
        self.good = good
        self.release = asyncio.Event()  # ends hanging requests at teardown

    async def handle(self, request: web.Request) -> web.Response:
        if self.mode == "500":
            return web.json_response(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "message": "etcdserver: request timed out",
                    "reason": "InternalError",
                    "code": 500,
                },
                status=500,
            )
        if self.mode == "hang":
            await self.release.wait()
        return web.json_response(self.good)


@pytest.fixture
async def fake_api(tmp_path: Path) -> AsyncIterator[tuple[FakeApi, Path]]:
    fake = FakeApi(
        {
            "apiVersion": "flink.apache.org/v1beta1",
            "kind": "FlinkDeployment",
            "metadata": {"name": FD, "namespace": NS},
            "spec": {"job": {"state": "running"}},
            "status": {"jobStatus": {"state": "RUNNING"}, "lifecycleState": "STABLE"},
        }
    )
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}", "t0ken")
    try:
        yield fake, kubeconfig
    finally:
        fake.release.set()
        await runner.cleanup()


async def test_api_500_and_timeout_fail_with_reason_then_recover(fake_api, stack) -> None:
    fake, kubeconfig = fake_api
    api = await open_api(KubernetesConfig(kubeconfig=kubeconfig))
    stack.push_async_callback(api.close)

    async def read() -> Any:
        return await get_flinkdeployment(api, namespace=NS, name=FD, timeout=1.0)

    assert (await read())["status"]["jobStatus"]["state"] == "RUNNING"
    fake.mode = "500"
    with pytest.raises(KubeError, match="HTTP 500 etcdserver: request timed out") as err:
        await read()
    assert err.value.status == 500 and f"{NS}/{FD}" in str(err.value)
    fake.mode = "hang"
    with pytest.raises(KubeError, match="timed out"):
        await read()
    fake.mode = "ok"
    assert (await read())["status"]["lifecycleState"] == "STABLE"


async def test_without_kubernetes_access_the_probes_build_and_fail_with_the_reason(
    config_data, stack, monkeypatch, tmp_path
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config either
    cfg = parse_config(config_data())  # no kubeconfig, and not in a cluster
    specs = _by_name(await flink.build(cfg, stack=stack)) | _by_name(
        await trading.build(cfg, stack=stack)
    )
    for name in ("flink_deployment", "trading"):
        with pytest.raises(KubeError, match="no Kubernetes credentials: not in a cluster"):
            await specs[name].collect()
