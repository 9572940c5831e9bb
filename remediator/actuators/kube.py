"""Kubernetes actuation: read the FlinkDeployment, the emergency merge-patch of its job state and
restart nonce, and Argo CD self-heal on the Application.

Every write is read-modify-write: the merge patch carries the `metadata.resourceVersion` it was
computed from, so a concurrent change (the operator's status writes, Argo CD, a person) answers
409 instead of being overwritten; the actuator then re-reads and recomputes, a few times.
Errors map to the contract: 403 (the chart's Role lacks the call), 404 and 422 escalate; 409,
5xx and timeouts are retryable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from exporter.clients.kube import FLINK, KubeError, open_api
from remediator.actuators import ActuationError, Fence
from remediator.config import RemediatorConfig

log = logging.getLogger(__name__)

APPLICATION = ("argoproj.io", "v1alpha1", "applications")
ARGOCD_NAMESPACE = "argocd"
MERGE = "application/merge-patch+json"
JOB_STATES = ("running", "suspended")
CONFLICT_ATTEMPTS = 5
T = TypeVar("T")


@dataclass(frozen=True)
class JobView:
    """What the remediator needs of a FlinkDeployment (missing fields are None)."""

    namespace: str
    name: str
    uid: str
    resource_version: str
    desired_state: str | None  # spec.job.state
    restart_nonce: int | None  # spec.restartNonce
    state: str | None  # status.jobStatus.state (Flink's JobStatus)
    lifecycle: str | None  # status.lifecycleState
    error: str | None  # status.error (a JSON string)
    annotations: dict[str, str] = field(default_factory=dict)
    job_id: str | None = None  # status.jobStatus.jobId: a new one after every (re)start
    upgrade_mode: str | None = None  # spec.job.upgradeMode
    image: str | None = None  # spec.image
    savepoint_trigger_nonce: int | None = None  # spec.job.savepointTriggerNonce
    savepoint_location: str | None = None  # status.jobStatus.savepointInfo.lastSavepoint
    savepoint_nonce: int | None = None  # the triggerNonce of that last savepoint


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def job_view(obj: dict[str, Any]) -> JobView:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    nonce = spec.get("restartNonce")
    info = (status.get("jobStatus") or {}).get("savepointInfo") or {}
    last = info.get("lastSavepoint") if isinstance(info, dict) else None
    last = last if isinstance(last, dict) else {}
    return JobView(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        desired_state=(spec.get("job") or {}).get("state"),
        restart_nonce=nonce if isinstance(nonce, int) and not isinstance(nonce, bool) else None,
        state=(status.get("jobStatus") or {}).get("state"),
        lifecycle=status.get("lifecycleState"),
        error=status.get("error"),
        annotations={str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
        job_id=(status.get("jobStatus") or {}).get("jobId"),
        upgrade_mode=(spec.get("job") or {}).get("upgradeMode"),
        image=spec.get("image"),
        savepoint_trigger_nonce=_int((spec.get("job") or {}).get("savepointTriggerNonce")),
        savepoint_location=str(last["location"]) if last.get("location") else None,
        savepoint_nonce=_int(last.get("triggerNonce")),
    )


def _actuation_error(verb: str, exc: KubeError) -> ActuationError:
    status = exc.status
    text = f"Kubernetes {verb} {exc.what}: {exc.reason}"
    if status == 403:
        return ActuationError(
            f"{text} (the remediator's Role lacks this verb on this resource: see the chart's "
            "remediator-rbac.yaml)",
            escalate=True,
            code="403",
        )
    if status == 409:
        return ActuationError(text, retryable=True, code="409")
    if status is None and exc.what == "(client setup)":
        return ActuationError(text, escalate=True, code="config")
    if status is None or status >= 500 or status == 429:
        return ActuationError(text, retryable=True, code=str(status or "network"))
    # 404 (the object is gone or misnamed), 422 (the field is named in the reason), 400, 401
    return ActuationError(text, escalate=True, code=str(status))


_LIMIT = 600  # the API's Status message names verb, resource, name, namespace: keep all of it


def _api_message(exc: ApiException) -> str:
    body: object = exc.body
    if isinstance(body, bytes | bytearray):
        body = bytes(body[: 4 * _LIMIT]).decode("utf-8", errors="replace")
    message: object = None
    if isinstance(body, str) and body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            message = parsed.get("message")
    text = " ".join(str(message or body or exc.reason or "").split())
    return f"HTTP {exc.status} {text[:_LIMIT]}".strip()


async def guarded(verb: str, what: str, call: Awaitable[T]) -> T:
    try:
        return await call
    except ApiException as exc:
        raise _actuation_error(
            verb, KubeError(what, _api_message(exc), status=exc.status)
        ) from None
    except UnicodeDecodeError as exc:
        # kubernetes_asyncio decodes an error body as UTF-8 while raising its ApiException
        api_exc = exc.__context__
        if not isinstance(api_exc, ApiException):
            raise
        error = KubeError(what, _api_message(api_exc), status=api_exc.status)
        raise _actuation_error(verb, error) from None
    except (TimeoutError, aiohttp.ServerTimeoutError):
        raise _actuation_error(verb, KubeError(what, "timed out")) from None
    except aiohttp.ClientConnectorError as exc:
        error = KubeError(what, f"cannot connect: {exc.os_error or exc}")
        raise _actuation_error(verb, error) from None
    except aiohttp.ClientError as exc:
        raise _actuation_error(verb, KubeError(what, f"{type(exc).__name__}: {exc}")) from None


@asynccontextmanager
async def api_for(cfg: RemediatorConfig) -> AsyncIterator[client.ApiClient]:
    """An ApiClient as the remediator's identity (kubeconfig or in-cluster ServiceAccount)."""
    try:
        api = await open_api(cfg.kubernetes)
    except KubeError as exc:
        raise _actuation_error("(setup)", exc) from None
    try:
        yield api
    finally:
        await api.close()


async def get_object(
    api: client.ApiClient, kind: tuple[str, str, str], namespace: str, name: str, timeout: float
) -> dict[str, Any]:
    group, version, plural = kind
    obj = await guarded(
        "GET",
        f"{plural}.{group} {namespace}/{name}",
        client.CustomObjectsApi(api).get_namespaced_custom_object(
            group, version, namespace, plural, name, _request_timeout=timeout
        ),
    )
    if not isinstance(obj, dict):
        raise ActuationError(f"GET {plural}.{group} {namespace}/{name}: not an object")
    return obj


async def _patch_with_retry(
    api: client.ApiClient,
    *,
    kind: tuple[str, str, str],
    namespace: str,
    name: str,
    timeout: float,
    compute: Callable[[dict[str, Any]], dict[str, Any] | None],
    fence: Fence,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(object before, object after): GET, `compute` the merge patch from it (None: nothing to
    change), fence, PATCH with the resourceVersion read; on 409 start over."""
    group, version, plural = kind
    what = f"{plural}.{group} {namespace}/{name}"
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        before = await get_object(api, kind, namespace, name, timeout)
        patch = compute(before)
        if patch is None:
            return before, before
        rv = (before.get("metadata") or {}).get("resourceVersion")
        patch = {**patch, "metadata": {**(patch.get("metadata") or {}), "resourceVersion": rv}}
        fence()
        try:
            after = await guarded(
                "PATCH",
                what,
                # the typed signature omits _content_type, which the method takes in **kwargs:
                # without it a dict body goes out as a JSON patch, refused by the API
                client.CustomObjectsApi(api).patch_namespaced_custom_object(  # type: ignore[call-arg]
                    group, version, namespace, plural, name, patch,
                    _content_type=MERGE, _request_timeout=timeout,
                ),
            )  # fmt: skip
        except ActuationError as exc:
            if exc.code == "409" and attempt < CONFLICT_ATTEMPTS:
                log.info("%s changed under us (attempt %d): re-reading", what, attempt)
                continue
            raise
        if not isinstance(after, dict):
            raise ActuationError(f"PATCH {what}: answer is not an object", retryable=True)
        return before, after
    raise AssertionError("unreachable")  # the loop returns or raises


async def read_job(*, cfg: RemediatorConfig, namespace: str, name: str) -> JobView:
    async with api_for(cfg) as api:
        return job_view(
            await get_object(api, FLINK, namespace, name, cfg.kubernetes.request_timeout)
        )


async def patch_job(
    *,
    cfg: RemediatorConfig,
    namespace: str,
    name: str,
    state: str | None,
    bump_nonce: bool,
    fence: Fence,
) -> JobView:
    """The emergency merge-patch of `spec.job.state` and/or `spec.restartNonce` (current + 1),
    in one write. Live drift from git: the caller records it, reconciles git at once, and turns
    Argo CD self-heal off first (else the patch is undone within seconds)."""
    if state is not None and state not in JOB_STATES:
        raise ActuationError(
            f"spec.job.state must be one of {', '.join(JOB_STATES)}, not {state!r}",
            escalate=True,
            code="invalid",
        )

    def compute(obj: dict[str, Any]) -> dict[str, Any] | None:
        view = job_view(obj)
        spec: dict[str, Any] = {}
        if state is not None and view.desired_state != state:
            spec["job"] = {"state": state}
        if bump_nonce:
            spec["restartNonce"] = (view.restart_nonce or 0) + 1
        return {"spec": spec} if spec else None

    async with api_for(cfg) as api:
        _, after = await _patch_with_retry(
            api, kind=FLINK, namespace=namespace, name=name,
            timeout=cfg.kubernetes.request_timeout, compute=compute, fence=fence,
        )  # fmt: skip
    return job_view(after)


def self_heal_of(app: dict[str, Any]) -> bool:
    """Whether Argo CD would undo live drift: automated sync on (present, not `enabled: false`)
    with selfHeal."""
    automated = ((app.get("spec") or {}).get("syncPolicy") or {}).get("automated")
    if not isinstance(automated, dict) or automated.get("enabled") is False:
        return False
    return bool(automated.get("selfHeal"))


async def set_self_heal(
    *,
    cfg: RemediatorConfig,
    app: str,
    enabled: bool,
    fence: Fence,
    namespace: str = ARGOCD_NAMESPACE,
) -> bool:
    """Set `spec.syncPolicy.automated.selfHeal` on the Application; returns the previous value
    (restore it with that). Turning self-heal on where automated sync is off would also start
    automated syncs: refused (escalates) rather than done."""
    previous: list[bool] = []

    def compute(obj: dict[str, Any]) -> dict[str, Any] | None:
        previous.append(self_heal_of(obj))
        if previous[-1] == enabled:
            return None
        automated = ((obj.get("spec") or {}).get("syncPolicy") or {}).get("automated")
        if enabled and (not isinstance(automated, dict) or automated.get("enabled") is False):
            raise ActuationError(
                f"Application {namespace}/{app} has automated sync off: turning self-heal on "
                "would turn automated sync on too; not done",
                escalate=True,
                code="invalid",
            )
        return {"spec": {"syncPolicy": {"automated": {"selfHeal": enabled}}}}

    async with api_for(cfg) as api:
        await _patch_with_retry(
            api, kind=APPLICATION, namespace=namespace, name=app,
            timeout=cfg.kubernetes.request_timeout, compute=compute, fence=fence,
        )  # fmt: skip
    log.info("Application %s/%s selfHeal %s -> %s", namespace, app, previous[-1], enabled)
    return previous[-1]
