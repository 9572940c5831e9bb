"""Discovery and the other fixed answers of the API stand-in (/version, /api, /apis, groups,
namespaces): what kubernetes_asyncio and kubectl-style clients ask before a request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sandbox.kube.resources import RESOURCES

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
VERSION = {
    "major": "1",
    "minor": "37",
    "gitVersion": "v1.37.0-torghut-sandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.22.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def static(body: Any) -> Handler:
    async def handler(_: web.Request) -> web.Response:
        return web.json_response(body)

    return handler


def group_list() -> dict[str, Any]:
    groups: dict[str, list[str]] = {}
    for r in RESOURCES:
        if r.group and r.version not in groups.setdefault(r.group, []):
            groups[r.group].append(r.version)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": g,
                "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]},
            }
            for g, vs in groups.items()
        ],
    }


def resource_list(group: str, version: str) -> dict[str, Any]:
    out = []
    verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
    for r in RESOURCES:
        if (r.group, r.version) != (group, version):
            continue
        out.append(
            {
                "name": r.plural,
                "singularName": r.kind.lower(),
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": verbs,
            }
        )
        if r.status_subresource:
            out.append(
                {
                    "name": f"{r.plural}/status",
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": out,
    }


async def group_version(request: web.Request) -> web.Response:
    body = resource_list(request.match_info["group"], request.match_info["version"])
    if not body["resources"]:
        raise web.HTTPNotFound()
    return web.json_response(body)


def namespace(name: str) -> dict[str, Any]:
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
