"""I/O the remediator reads before deciding: a fresh probe cycle and the annotation kill switch.

Keyword-only async functions; decisions are made elsewhere from what they return.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack

from exporter.clients import kube
from exporter.registry import FAMILIES, build_probes
from exporter.report import build_report
from exporter.scheduler import Scheduler
from exporter.snapshot import Snapshot
from remediator.config import RemediatorConfig
from remediator.facts import Facts, gather
from remediator.policy import KillSwitch


async def fresh_facts(*, cfg: RemediatorConfig, families: Sequence[str] = FAMILIES) -> Facts:
    """One concurrent cycle of the exporter's probes (never its cached scrape), judged."""
    async with AsyncExitStack() as stack:
        specs = await build_probes(cfg, stack=stack, families=families)
        snapshot = Snapshot()
        await Scheduler(specs, snapshot).run_cycle()
        view = snapshot.view()
        return gather(view, build_report(view, cfg), cfg)


async def annotation_switch(*, cfg: RemediatorConfig) -> KillSwitch:
    """The FlinkDeployment's pause annotation; unreadable counts as paused (on=None)."""
    name = cfg.remediator.pause_annotation
    try:
        api = await kube.open_api(cfg.kubernetes)
    except Exception as exc:  # no kubeconfig, no in-cluster account: cannot read it
        return KillSwitch("annotation", None, f"no Kubernetes access: {type(exc).__name__}: {exc}")
    async with api:
        try:
            obj = await kube.get_flinkdeployment(
                api,
                namespace=cfg.namespace,
                name=cfg.flink.deployment,
                timeout=cfg.kubernetes.request_timeout,
            )
        except kube.KubeError as exc:
            return KillSwitch("annotation", None, str(exc))
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(name)
    where = f"on FlinkDeployment {cfg.namespace}/{cfg.flink.deployment}"
    if value is None:
        return KillSwitch("annotation", False, f"{name} not set {where}")
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return KillSwitch("annotation", True, f"{name}={value!r} {where}")
    if text in ("false", "0", "no", ""):
        return KillSwitch("annotation", False, f"{name}={value!r} {where}")
    return KillSwitch(
        "annotation", None, f"{name}={str(value)[:40]!r} {where} is not true or false"
    )
