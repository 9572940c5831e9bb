"""The trading probe: the Knative Service's trading switch (a value or a ConfigMap key)."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from exporter.clients.kube import get_configmap_data, get_knative_service
from exporter.config import Config
from exporter.families.k8s import kube_access
from exporter.probes.base import ProbeSpec
from exporter.probes.trading import (
    TradingSwitch,
    TradingSwitchError,
    find_env,
    parse_switch,
    render,
)


async def collect(
    api: Any, *, namespace: str, service: str, env_var: str, timeout: float
) -> TradingSwitch:
    obj = await get_knative_service(api, namespace=namespace, name=service, timeout=timeout)
    ref = find_env(obj, env_var)
    if ref.value is not None:
        raw, source = ref.value, "value"
    else:
        assert ref.configmap is not None and ref.key is not None
        data = await get_configmap_data(
            api, namespace=namespace, name=ref.configmap, timeout=timeout
        )
        source = f"configmap {ref.configmap}:{ref.key}"
        if ref.key not in data:
            raise TradingSwitchError(f"{env_var} refers to {source}, which has no such key")
        raw = data[ref.key]
    enabled = parse_switch(raw, where=f"{env_var} of Service {namespace}/{service}")
    return TradingSwitch(service, env_var, enabled, raw, ref.container, source)


async def build(cfg: Config, *, stack: AsyncExitStack) -> list[ProbeSpec]:
    kube = kube_access(cfg, stack=stack)
    t = cfg.probes.timing("trading")

    async def run() -> TradingSwitch:
        return await collect(
            await kube.api(),
            namespace=cfg.namespace,
            service=cfg.trading.service,
            env_var=cfg.trading.env_var,
            timeout=cfg.kubernetes.request_timeout,
        )

    return [ProbeSpec("trading", run, render, t.interval, t.timeout, t.staleness)]
