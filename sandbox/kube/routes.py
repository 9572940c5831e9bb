"""HTTP endpoints beside the Kubernetes API: sandbox hooks (/sandbox/..., admin token only) and
the slice of the Argo CD REST API the remediator may use (/argocd/api/v1/..., the Argo CD token)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from sandbox.kube import errors, faults
from sandbox.kube.argocd import NAMESPACE, ArgoCD
from sandbox.kube.operator import FlinkOperator, job_view
from sandbox.kube.resources import APPLICATION, FLINK
from sandbox.kube.server import STORE_KEY

OPERATOR_KEY = web.AppKey("operator", FlinkOperator)
ARGOCD_KEY = web.AppKey("argocd", ArgoCD)


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise errors.bad_request("the request body must be a JSON object")
    return body


async def ready(request: web.Request) -> web.Response:
    return web.json_response({"ready": True, "resourceVersion": str(request.app[STORE_KEY].rv)})


async def job(request: web.Request) -> web.Response:
    """What a Flink job stand-in needs: desired state and the operator's view of the job."""
    info = request.match_info
    obj = request.app[STORE_KEY].get(FLINK, info["ns"], info["name"])
    return web.json_response(job_view(obj))


async def fail(request: web.Request) -> web.Response:
    """Report a job failure: {"message": ..., "type": optional exception class, "causes":
    optional exception chain [{"type", "message"}, ...], outermost first}."""
    body = await _json_body(request)
    message = body.get("message")
    if not isinstance(message, str) or not message:
        raise errors.bad_request('"message" (a non-empty string) is required')
    causes = body.get("causes")
    if causes is not None and not (
        isinstance(causes, list)
        and causes
        and all(
            isinstance(c, dict)
            and isinstance(c.get("type"), str)
            and isinstance(c.get("message"), str)
            for c in causes
        )
    ):
        raise errors.bad_request('"causes" must be a non-empty list of {"type", "message"} strings')
    info = request.match_info
    obj = request.app[OPERATOR_KEY].fail(
        info["ns"], info["name"], message, body.get("type"), causes
    )
    return web.json_response(job_view(obj))


async def savepoint(request: web.Request) -> web.Response:
    """The job completed a triggered savepoint: {"triggerId": ..., "location": ...}."""
    body = await _json_body(request)
    trigger_id, location = body.get("triggerId"), body.get("location")
    for key, value in (("triggerId", trigger_id), ("location", location)):
        if not isinstance(value, str) or not value:
            raise errors.bad_request(f'"{key}" (a non-empty string) is required')
    info = request.match_info
    obj = request.app[OPERATOR_KEY].savepoint_completed(
        info["ns"], info["name"], str(trigger_id), str(location)
    )
    return web.json_response(job_view(obj))


def _argocd_error(err: errors.ApiError) -> web.Response:
    """Argo CD's gRPC-gateway error shape (code 9 FailedPrecondition, 5 NotFound)."""
    code = {400: 9, 404: 5}.get(err.code, 2)
    return web.json_response(
        {"error": err.message, "code": code, "message": err.message}, status=err.code
    )


async def argocd_get(request: web.Request) -> web.Response:
    """GET /argocd/api/v1/applications/{name}[?refresh=normal|hard]."""
    name = request.match_info["name"]
    refresh = request.query.get("refresh")
    try:
        if refresh in ("normal", "hard"):
            app = await request.app[ARGOCD_KEY].refreshed(name)
        elif refresh:
            raise errors.bad_request(f"unknown refresh type {refresh!r}: use normal or hard")
        else:
            app = request.app[STORE_KEY].get(APPLICATION, NAMESPACE, name)
    except errors.ApiError as err:
        return _argocd_error(err)
    return web.json_response(app)


async def argocd_sync(request: web.Request) -> web.Response:
    """POST /argocd/api/v1/applications/{name}/sync, like Argo CD's API server."""
    body = await _json_body(request)
    sync: dict[str, Any] = {k: body[k] for k in ("revision", "prune", "dryRun") if k in body}
    if body.get("resources"):
        sync["resources"] = body["resources"]
    if (body.get("syncOptions") or {}).get("items"):
        sync["syncOptions"] = body["syncOptions"]["items"]
    try:
        app = request.app[ARGOCD_KEY].request_sync(request.match_info["name"], sync)
    except errors.ApiError as err:
        return _argocd_error(err)
    return web.json_response(app)


async def argocd_fault(request: web.Request) -> web.Response:
    """Test hook: {"mode": "hang"|"fail"|"none", "message": optional} for an Application."""
    body = await _json_body(request)
    name = request.match_info["name"]
    request.app[ARGOCD_KEY].set_fault(name, body.get("mode"), body.get("message"))
    return web.json_response({"name": name, "fault": request.app[ARGOCD_KEY].faults.get(name)})


def add_routes(app: web.Application) -> None:
    faults.install(app)
    app.router.add_get("/sandbox/ready", ready)
    app.router.add_get("/sandbox/flinkdeployments/{ns}/{name}/job", job)
    app.router.add_post("/sandbox/flinkdeployments/{ns}/{name}/fail", fail)
    app.router.add_post("/sandbox/flinkdeployments/{ns}/{name}/savepoint", savepoint)
    app.router.add_post("/sandbox/argocd/applications/{name}/fault", argocd_fault)
    app.router.add_get("/argocd/api/v1/applications/{name}", argocd_get)
    app.router.add_post("/argocd/api/v1/applications/{name}/sync", argocd_sync)
