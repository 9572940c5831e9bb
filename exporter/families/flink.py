"""Flink: the FlinkDeployment as the operator reports it (Kubernetes) and the job as Flink REST sees it.

Probes: `flink_deployment` (job and lifecycle state sets, desired state, restartNonce, error)
and `flink_rest` (job start time, checkpoint interval, last completed checkpoint, restarts; only
when `flink.rest_url` is set).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import aiohttp

from exporter.clients import flink_rest as rest
from exporter.clients.http import DEFAULT_MAX_BODY, new_session
from exporter.clients.kube import get_flinkdeployment
from exporter.config import Config
from exporter.families.k8s import kube_access
from exporter.probes.base import ProbeSpec
from exporter.probes.flink_deployment import (
    FlinkDeploymentStatus,
    parse_flinkdeployment,
    render_deployment,
)
from exporter.probes.flink_rest import (
    FlinkRestStatus,
    parse_checkpoint_interval,
    parse_checkpoints,
    parse_jobs,
    pick_job,
    render_rest,
    restarts_from_exceptions,
    restarts_from_metrics,
)


async def collect_deployment(
    api: Any, *, namespace: str, name: str, timeout: float
) -> FlinkDeploymentStatus:
    obj = await get_flinkdeployment(api, namespace=namespace, name=name, timeout=timeout)
    return parse_flinkdeployment(obj)


async def collect_rest(
    session: aiohttp.ClientSession,
    *,
    base_url: str,
    deployment: str,
    job_name: str,
    job_id: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> FlinkRestStatus:
    """Our job (by id when known, else by name): start time, checkpoint interval, last completed
    checkpoint and restarts."""
    overview = await rest.jobs_overview(session, base_url=base_url, max_body=max_body)
    job = pick_job(parse_jobs(overview), name=job_name, job_id=job_id)
    ts, cid = parse_checkpoints(
        await rest.job_checkpoints(session, base_url=base_url, job_id=job.job_id, max_body=max_body)
    )
    interval = parse_checkpoint_interval(
        *await rest.job_checkpoint_config(
            session, base_url=base_url, job_id=job.job_id, max_body=max_body
        )
    )
    restarts = restarts_from_metrics(
        await rest.job_metrics(
            session,
            base_url=base_url,
            job_id=job.job_id,
            names=["numRestarts"],
            max_body=max_body,
        )
    )
    source = "metric"
    if restarts is None:
        payload = await rest.job_exceptions(
            session, base_url=base_url, job_id=job.job_id, max_body=max_body
        )
        restarts = restarts_from_exceptions(payload, state=job.state)
        source = "exception history"
    return FlinkRestStatus(deployment, job, ts, cid, restarts, source, interval)


async def build(cfg: Config, *, stack: AsyncExitStack) -> list[ProbeSpec]:
    kube = kube_access(cfg, stack=stack)
    name = cfg.flink.deployment
    t = cfg.probes.timing("flink_deployment")

    async def deployment() -> FlinkDeploymentStatus:
        return await collect_deployment(
            await kube.api(),
            namespace=cfg.namespace,
            name=name,
            timeout=cfg.kubernetes.request_timeout,
        )

    specs = [
        ProbeSpec(
            "flink_deployment", deployment, render_deployment, t.interval, t.timeout, t.staleness
        )
    ]
    if cfg.flink.rest_url:
        r = cfg.probes.timing("flink_rest")
        session = new_session(timeout=r.timeout)
        stack.push_async_callback(session.close)
        base_url = cfg.flink.rest_url

        async def job() -> FlinkRestStatus:
            return await collect_rest(
                session,
                base_url=base_url,
                deployment=name,
                job_name=name,
                max_body=cfg.probes.max_body_bytes,
            )

        specs.append(ProbeSpec("flink_rest", job, render_rest, r.interval, r.timeout, r.staleness))
    return specs
