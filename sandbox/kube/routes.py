"""HTTP endpoints beside the Kubernetes API: sandbox hooks (/sandbox/...) and the slice of the
Argo CD REST API the remediator may use (/argocd/api/v1/...). Same bearer token as the API."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from sandbox.kube import errors
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


async def argocd_get(request: web.Request) -> web.Response:
    app = request.app[STORE_KEY].get(APPLICATION, NAMESPACE, request.match_info["name"])
    return web.json_response(app)


async def argocd_sync(request: web.Request) -> web.Response:
    """POST /argocd/api/v1/applications/{name}/sync, like Argo CD's API server."""
    body = await _json_body(request)
    sync: dict[str, Any] = {k: body[k] for k in ("revision", "prune", "dryRun") if k in body}
    if "resources" in body:
        sync["resources"] = body["resources"]
    try:
        app = request.app[ARGOCD_KEY].request_sync(request.match_info["name"], sync)
    except errors.ApiError as err:
        if err.code == 400:  # Argo CD's gRPC-gateway error shape
            return web.json_response(
                {"error": err.message, "code": 9, "message": err.message}, status=400
            )
        raise
    return web.json_response(app)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/sandbox/ready", ready)
    app.router.add_get("/sandbox/flinkdeployments/{ns}/{name}/job", job)
    app.router.add_post("/sandbox/flinkdeployments/{ns}/{name}/fail", fail)
    app.router.add_get("/argocd/api/v1/applications/{name}", argocd_get)
    app.router.add_post("/argocd/api/v1/applications/{name}/sync", argocd_sync)
