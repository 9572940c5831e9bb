"""Argo CD's health assessment for the kinds the sandbox manages."""

from __future__ import annotations

from typing import Any

# Argo CD's ordering: a later entry is worse; the app's health is its worst resource's.
ORDER = ["Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown"]


def flink_health(obj: dict[str, Any]) -> dict[str, str]:
    """Mirror of resource_customizations/flink.apache.org/FlinkDeployment/health.lua: it reads
    reconciliation and JobManager status only, never jobStatus.state (a FAILED job is Healthy)."""
    status = obj.get("status") or {}
    rec = status.get("reconciliationStatus")
    if rec is not None:
        if rec.get("success") or rec.get("state") == "DEPLOYED":
            return {"status": "Healthy"}
        jm = status.get("jobManagerDeploymentStatus")
        if jm in ("DEPLOYED_NOT_READY", "DEPLOYING"):
            return {"status": "Progressing", "message": "Waiting for deploying"}
        if jm == "ERROR":
            return {"status": "Degraded", "message": str(rec.get("error", ""))}
    return {"status": "Progressing", "message": "Waiting for Flink operator"}


def knative_health(obj: dict[str, Any]) -> dict[str, str]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            if cond.get("status") == "True":
                return {"status": "Healthy"}
            if cond.get("status") == "False":
                return {"status": "Degraded", "message": cond.get("message", "")}
    return {"status": "Progressing", "message": "Waiting for the Ready condition"}


def resource_health(kind: str, obj: dict[str, Any] | None) -> dict[str, str] | None:
    """None for kinds Argo CD has no health check for (they do not affect the app's health)."""
    if obj is None:
        return {"status": "Missing"}
    if kind == "FlinkDeployment":
        return flink_health(obj)
    if kind == "Service" and obj.get("apiVersion", "").startswith("serving.knative.dev/"):
        return knative_health(obj)
    return None


def worst(statuses: list[str]) -> str:
    return max(statuses, key=ORDER.index, default="Healthy")
