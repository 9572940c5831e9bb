"""A Kubernetes Event on the FlinkDeployment for every remediation action: evidence next to the
object (`kubectl describe flinkdeployment`), not a step. It never raises: a failure is logged and
the run goes on. The message never carries a secret the config resolved."""

from __future__ import annotations

import logging
import os
import re
import socket
import uuid
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client

from exporter.clients.kube import FLINK
from exporter.config_refs import secret_refs
from remediator.actuators import ActuationError
from remediator.actuators.kube import api_for, get_object, guarded
from remediator.config import RemediatorConfig

log = logging.getLogger(__name__)

CONTROLLER = "torghut-ta-remediator"
NOTE_LIMIT = 1024  # bytes, as the API validates it
_FIELD_LIMIT = 128  # reason, action, reportingInstance
_CAMEL = re.compile(r"[A-Z][A-Za-z0-9]*")
_CREDENTIAL = re.compile(r"(?i)\b(bearer|token|password|secret)([=: ]+)\S+")


def reason_of(text: str) -> str:
    """A CamelCase reason (Kubernetes' convention, e.g. `JobSuspended`) from any text."""
    if _CAMEL.fullmatch(text):
        return text[:_FIELD_LIMIT]
    words = re.findall(r"[A-Za-z0-9]+", text)
    camel = "".join(w[:1].upper() + w[1:] for w in words)
    if not camel or not camel[0].isalpha():
        camel = "Remediation" + camel
    return camel[:_FIELD_LIMIT]


def scrub(cfg: RemediatorConfig, text: str) -> str:
    """The text with every secret the config resolved, and anything shaped like a credential
    (`token=...`, `Bearer ...`), masked."""
    for path, _ in secret_refs(cfg):
        secret = cfg.secret(path)
        value = secret.get() if secret is not None else ""
        if len(value) >= 4:
            text = text.replace(value, "***")
    return _CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


def truncate(text: str, limit: int = NOTE_LIMIT) -> str:
    """At most `limit` UTF-8 bytes, never cutting a character, marked when cut."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", errors="ignore") + "..."


def _instance() -> str:
    return (os.environ.get("POD_NAME") or socket.gethostname() or CONTROLLER)[:_FIELD_LIMIT]


def event_body(
    fd: dict[str, Any], *, reason: str, message: str, type: str, now: datetime
) -> dict[str, Any]:
    meta = fd.get("metadata") or {}
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            # client-go names an Event <object>.<hex>; the uuid keeps two in one ns apart
            "name": f"{meta.get('name', 'torghut-ta')}.{uuid.uuid4().hex[:16]}",
            "namespace": meta.get("namespace"),
        },
        "involvedObject": {
            "apiVersion": fd.get("apiVersion", "flink.apache.org/v1beta1"),
            "kind": fd.get("kind", "FlinkDeployment"),
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "reason": reason,
        "message": message,
        "type": type,
        "action": reason,
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "source": {"component": CONTROLLER},
        "reportingComponent": CONTROLLER,
        "reportingInstance": _instance(),
    }


async def record(
    *,
    cfg: RemediatorConfig,
    namespace: str,
    name: str,
    reason: str,
    message: str,
    type: str = "Normal",
) -> None:
    """Create a core/v1 Event about the FlinkDeployment `namespace/name` (its uid from a GET).
    Never raises: an Event that cannot be written is logged."""
    try:
        event_type = type if type in ("Normal", "Warning") else "Warning"
        note = truncate(scrub(cfg, message))
        async with api_for(cfg) as api:
            fd = await get_object(api, FLINK, namespace, name, cfg.kubernetes.request_timeout)
            body = event_body(
                fd,
                reason=reason_of(scrub(cfg, reason)),
                message=note,
                type=event_type,
                now=datetime.now(UTC),
            )
            await guarded(
                "POST",
                f"events {namespace}",
                # a plain dict is sent as the JSON body as is (the stub wants the model)
                client.CoreV1Api(api).create_namespaced_event(
                    namespace,
                    body,  # type: ignore[arg-type]
                    _request_timeout=cfg.kubernetes.request_timeout,
                ),
            )
    except ActuationError as exc:
        log.warning("Event %s on %s/%s not recorded: %s", reason, namespace, name, exc)
    except Exception as exc:  # evidence must never break a run
        log.warning(
            "Event %s on %s/%s not recorded: %s: %s",
            reason, namespace, name, exc.__class__.__name__, exc,
        )  # fmt: skip
