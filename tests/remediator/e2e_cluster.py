"""The remediator's end-to-end tests on a whole sandbox stack: starting it, and the cluster it
stands in for (the FlinkDeployment, its Events, the job's state, the exporter's verdicts)."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.util import poll_until

NAMESPACE, DEPLOYMENT = "torghut", "torghut-ta"
JobStatus = tuple[str | None, str | None, str | None]


def start_stack(
    workdir: Path, *, mode: str, overrides: dict[str, Any], disk_limit_mib: int,
    timings: str = "fast",
) -> dict[str, Any]:  # fmt: skip
    """`ta-sandbox up` with the remediator in `mode`; the caller runs `stack.down` whatever
    happens. Returns `status --json`'s view plus `dir`."""
    from sandbox import stack
    from sandbox.cli import summary

    if os.geteuid() != 0:
        raise AssertionError(
            f"these tests mount a tmpfs for ClickHouse: they need root (euid {os.geteuid()})"
        )
    stack.up(
        workdir, timings=timings, disk_limit_mib=disk_limit_mib, remediator_mode=mode,
        remediator_overrides=overrides, log=lambda _m: None,
    )  # fmt: skip
    info: dict[str, Any] = summary(workdir)
    info["dir"] = str(workdir)
    return info


async def _kube(kubeconfig: str, fn: Callable[[Any], Any]) -> Any:
    from kubernetes_asyncio import config

    api = await config.new_client_from_config(config_file=kubeconfig)
    async with api:
        return await fn(api)


def flinkdeployment(stack: dict[str, Any]) -> dict[str, Any]:
    from kubernetes_asyncio import client as k

    async def get(api: Any) -> Any:
        return await k.CustomObjectsApi(api).get_namespaced_custom_object(
            "flink.apache.org", "v1beta1", NAMESPACE, "flinkdeployments", DEPLOYMENT
        )

    result: dict[str, Any] = asyncio.run(_kube(stack["kubeconfig"], get))
    return result


def job_status(stack: dict[str, Any]) -> JobStatus:
    """(spec.job.state, status.jobStatus.state, status.lifecycleState)."""
    fd = flinkdeployment(stack)
    status = fd.get("status") or {}
    return (
        ((fd.get("spec") or {}).get("job") or {}).get("state"),
        (status.get("jobStatus") or {}).get("state"),
        status.get("lifecycleState"),
    )


def events(stack: dict[str, Any]) -> list[dict[str, Any]]:
    """Events about the FlinkDeployment (reason, message, type), oldest first."""
    from kubernetes_asyncio import client as k

    async def get(api: Any) -> Any:
        found = await k.CoreV1Api(api).list_namespaced_event(NAMESPACE)
        return [
            {"reason": e.reason, "message": e.message, "type": e.type}
            for e in found.items
            if e.involved_object.name == DEPLOYMENT
        ]

    result: list[dict[str, Any]] = asyncio.run(_kube(stack["kubeconfig"], get))
    return result


def wait_job(
    stack: dict[str, Any], ok: Callable[[JobStatus], bool], what: str, timeout: float = 300
) -> JobStatus:
    last: list[object] = []

    def check() -> JobStatus | None:
        got = job_status(stack)
        last[:] = [got]
        return got if ok(got) else None

    try:
        return poll_until(check, timeout=timeout, interval=1.0, what=what)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}; last (spec, state, lifecycle): {last}") from None


def exporter_verdicts(stack: dict[str, Any]) -> dict[str, str]:
    with urllib.request.urlopen(f"{stack['exporter']}/report", timeout=30) as resp:
        report = json.loads(resp.read())
    return {c["component"]: c["status"] for c in report["components"]}


def steady(stack: dict[str, Any], timeout: float = 300) -> None:
    """The job RUNNING and STABLE and the exporter judging the signals fresh."""
    wait_job(stack, lambda j: j[1:] == ("RUNNING", "STABLE"), "the TA job RUNNING and STABLE",
             timeout=timeout)  # fmt: skip
    poll_until(
        lambda: exporter_verdicts(stack).get("freshness") == "healthy",
        timeout=timeout, interval=2.0, what="the exporter judging the signals fresh",
    )  # fmt: skip
