"""Calls to the stand-in's sandbox hooks, for the other sandbox parts (e.g. the TA writer that
plays the Flink job): report a job failure, read whether the job should run; and a
ServiceAccount token by TokenRequest, for a component that must run with its own rights."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import aiohttp

NAMESPACE, DEPLOYMENT = "torghut", "torghut-ta"


def _path(namespace: str, name: str, action: str) -> str:
    return f"/sandbox/flinkdeployments/{namespace}/{name}/{action}"


def _call(api_url: str, token: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        api_url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise RuntimeError(f"{method} {path} -> {exc.code}: {detail}") from exc


def service_account_token(
    api_url: str, admin_token: str, namespace: str, name: str, *, seconds: int = 7 * 86400
) -> str:
    """A token for ServiceAccount namespace/name (TokenRequest, as `kubectl create token`)."""
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": seconds},
    }
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
    return str(_call(api_url, admin_token, "POST", path, body)["status"]["token"])


def fail_job(
    api_url: str,
    token: str,
    message: str,
    *,
    namespace: str = NAMESPACE,
    name: str = DEPLOYMENT,
    exception_type: str | None = None,
) -> dict[str, Any]:
    """Mark the FlinkDeployment's job FAILED with `message`; returns the job view."""
    body: dict[str, Any] = {"message": message}
    if exception_type:
        body["type"] = exception_type
    return _call(api_url, token, "POST", _path(namespace, name, "fail"), body)


def job_state(
    api_url: str, token: str, *, namespace: str = NAMESPACE, name: str = DEPLOYMENT
) -> dict[str, Any]:
    """{desiredState, desiredRunning, jobState, jobId, lifecycleState, running, restartNonce, ...}"""
    return _call(api_url, token, "GET", _path(namespace, name, "job"))


async def afail_job(
    session: aiohttp.ClientSession,
    api_url: str,
    token: str,
    message: str,
    *,
    namespace: str = NAMESPACE,
    name: str = DEPLOYMENT,
    exception_type: str | None = None,
) -> dict[str, Any]:
    """Async `fail_job` on a caller-owned aiohttp session."""
    body: dict[str, Any] = {"message": message}
    if exception_type:
        body["type"] = exception_type
    async with session.post(
        api_url + _path(namespace, name, "fail"),
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        payload = await resp.json()
        if resp.status != 200:
            raise RuntimeError(f"fail_job -> {resp.status}: {payload}")
        return payload


async def ajob_state(
    session: aiohttp.ClientSession,
    api_url: str,
    token: str,
    *,
    namespace: str = NAMESPACE,
    name: str = DEPLOYMENT,
) -> dict[str, Any]:
    """Async `job_state` on a caller-owned aiohttp session."""
    async with session.get(
        api_url + _path(namespace, name, "job"), headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        payload = await resp.json()
        if resp.status != 200:
            raise RuntimeError(f"job_state -> {resp.status}: {payload}")
        return payload
