"""The trading kill switch: TRADING_ENABLED on the Knative Service's container env.

The value may be literal or come from a ConfigMap key (`valueFrom.configMapKeyRef`), which is
then read too. A value from a Secret, an unset variable or an unparseable value fails the
probe with the reason: guessing the switch would be worse than not knowing it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from exporter.probes.base import Sample

TRUE = frozenset({"true", "1", "yes", "on"})
FALSE = frozenset({"false", "0", "no", "off"})


class TradingSwitchError(Exception):
    """TRADING_ENABLED cannot be determined; the message says why."""


@dataclass(frozen=True)
class TradingSwitch:
    service: str
    env_var: str
    enabled: bool
    raw: str
    container: str
    source: str  # "value" or "configmap <name>:<key>"


@dataclass(frozen=True)
class EnvRef:
    """Where the variable's value lives: a literal, or a ConfigMap key."""

    container: str
    value: str | None
    configmap: str | None = None
    key: str | None = None


def parse_switch(raw: str, *, where: str) -> bool:
    text = raw.strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise TradingSwitchError(f"{where} is {raw!r}: expected true or false")


def find_env(service: Mapping[str, Any], env_var: str) -> EnvRef:
    """The first container of spec.template that sets `env_var`."""
    spec = ((service.get("spec") or {}).get("template") or {}).get("spec") or {}
    name = (service.get("metadata") or {}).get("name", "?")
    for container in spec.get("containers") or []:
        for entry in container.get("env") or []:
            if entry.get("name") != env_var:
                continue
            cname = str(container.get("name", "?"))
            if "value" in entry or "valueFrom" not in entry:
                return EnvRef(cname, str(entry.get("value") or ""))
            source = entry["valueFrom"] or {}
            ref = source.get("configMapKeyRef")
            if ref and ref.get("name") and ref.get("key"):
                return EnvRef(cname, None, ref["name"], ref["key"])
            kind = next(iter(source), "an unknown source")
            raise TradingSwitchError(
                f"{env_var} of Service {name} comes from {kind}, which the exporter does not read"
            )
    raise TradingSwitchError(f"{env_var} is not set on any container of Service {name}")


def render(data: TradingSwitch) -> Iterable[Sample]:
    yield Sample("torghut_ta_trading_enabled", 1.0 if data.enabled else 0.0)
