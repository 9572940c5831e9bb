"""Alertmanager webhook notifications: the payload's schema and what each alert asks for.

Pure: parsing and classification only. An alert becomes a `Trigger` when it names a procedure
the remediator carries out (A, B) or is the trading gate's alert, and every label that would
steer an action is on the configured allowlist; anything else is recorded and ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from remediator.config import RemediatorConfig

TRADING_GATE_ALERT = "TATradingOnStaleSignals"
# labels that would select what an action touches: each must be on its allowlist
STEERING_LABELS = ("namespace", "deployment", "table", "replica")


class _Loose(BaseModel):
    # Alertmanager adds fields over time (notification_reason, routeLabels): accept them
    model_config = ConfigDict(extra="allow", frozen=True)


class AmAlert(_Loose):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1, max_length=64)


class AmNotification(_Loose):
    version: Literal["4"]
    groupKey: str
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"]
    receiver: str
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[AmAlert] = Field(min_length=1, max_length=1000)


class PayloadError(ValueError):
    """The body is not an Alertmanager v4 notification; the message says why."""


def parse_notification(body: bytes) -> AmNotification:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object (Alertmanager webhook payload)")
    try:
        return AmNotification.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err["loc"]) or "(body)"
            problems.append(f"{where}: {err['msg']}")
        raise PayloadError("; ".join(problems)) from None


@dataclass(frozen=True)
class Target:
    namespace: str
    deployment: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.deployment}"


@dataclass(frozen=True)
class Trigger:
    """An alert the remediator acts on. One incident = one `key` (procedure + install)."""

    procedure: Literal["A", "B", "trading_gate"]
    target: Target
    alertname: str
    fingerprint: str
    status: Literal["firing", "resolved"]
    labels: dict[str, str]

    @property
    def key(self) -> str:
        return f"{self.procedure}/{self.target}"


@dataclass(frozen=True)
class Ignored:
    alertname: str
    fingerprint: str
    reason: str


def classify(alert: AmAlert, cfg: RemediatorConfig) -> Trigger | Ignored:
    labels = alert.labels
    name = labels.get("alertname", "")
    if name == TRADING_GATE_ALERT:
        procedure: Literal["A", "B", "trading_gate"] = "trading_gate"
    elif labels.get("procedure") in ("A", "B"):
        procedure = "A" if labels["procedure"] == "A" else "B"
    elif labels.get("procedure") == "C":
        return Ignored(
            name, alert.fingerprint, "procedure C is started by a person, never by an alert"
        )
    else:
        return Ignored(name, alert.fingerprint, "no procedure the remediator carries out")
    if procedure not in cfg.remediator.policy.procedures:
        return Ignored(name, alert.fingerprint, f"procedure {procedure} is not enabled by policy")
    for label in STEERING_LABELS:
        value = labels.get(label)
        if value is not None and value not in cfg.allowed(label):
            return Ignored(
                name,
                alert.fingerprint,
                f"label {label}={printable(value, 80)!r} is not on the allowlist",
            )
    target = Target(
        labels.get("namespace", cfg.namespace), labels.get("deployment", cfg.flink.deployment)
    )
    return Trigger(procedure, target, name, alert.fingerprint, alert.status, dict(labels))


def triage(notification: AmNotification, cfg: RemediatorConfig) -> list[Trigger | Ignored]:
    return [classify(a, cfg) for a in notification.alerts]


def printable(value: Any, limit: int = 200) -> str:
    """A label value as it may appear in a journal reason: bounded, no control characters."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    return text if len(text) <= limit else text[:limit] + "..."
