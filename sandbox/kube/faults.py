"""Test-only fault injection on the Kubernetes API: the next `count` requests that match an HTTP
method and a resource (plural, e.g. `events`, `leases`, `flinkdeployments`) get a `Status`
error (500, 409, 403, 429, 503) or hang `seconds` and then get the API server's 504 `Timeout`.

`POST /sandbox/faults` `{"method": "POST", "resource": "events", "status": 500, "count": 2}` or
`{..., "timeout": 30}`; `DELETE /sandbox/faults` lifts them all; `GET` lists them with what
each has left. Only the admin token reaches `/sandbox/` (the guard's rule); the fault applies
to every identity, as an API server outage would."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from sandbox.kube import errors

STATUSES = (403, 409, 429, 500, 503)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass
class Fault:
    method: str
    resource: str
    count: int
    status: int | None = None
    timeout: float | None = None
    hits: int = 0


def parse(body: dict[str, Any]) -> Fault:
    """A fault from its JSON, or a 400 naming the field and the problem."""
    known = {"method", "resource", "status", "timeout", "count"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise errors.bad_request(f"unknown fault field {unknown[0]!r}; known: {sorted(known)}")
    method = str(body.get("method", "")).upper()
    if method not in METHODS:
        raise errors.bad_request(f"fault method must be one of {list(METHODS)}, not {method!r}")
    resource = body.get("resource")
    if not isinstance(resource, str) or not resource:
        raise errors.bad_request("fault resource must be a resource's plural, e.g. 'events'")
    count = body.get("count", 1)
    if not isinstance(count, int) or count < 1:
        raise errors.bad_request(f"fault count must be a positive integer, not {count!r}")
    status, timeout = body.get("status"), body.get("timeout")
    if (status is None) == (timeout is None):
        raise errors.bad_request("a fault has exactly one of status and timeout")
    if status is not None and status not in STATUSES:
        raise errors.bad_request(f"fault status must be one of {list(STATUSES)}, not {status!r}")
    if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
        raise errors.bad_request(f"fault timeout must be positive seconds, not {timeout!r}")
    return Fault(method, resource, count, status, None if timeout is None else float(timeout))


def resource_of(path: str) -> str | None:
    """The resource plural a /api or /apis request is about (None for discovery paths)."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        rest = parts[2:]
    elif parts[:1] == ["apis"]:
        rest = parts[3:]
    else:
        return None
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        return rest[2]
    return rest[0] if rest else None


FAULTS_KEY = web.AppKey("faults", list)


def _take(faults: list[Fault], method: str, resource: str) -> Fault | None:
    for fault in faults:
        if fault.method == method and fault.resource == resource and fault.hits < fault.count:
            fault.hits += 1
            return fault
    return None


def _error(fault: Fault) -> errors.ApiError:
    if fault.timeout is not None:
        return errors.ApiError(504, "the server was unable to return a response in the time "
                               "allotted (injected fault)", reason="Timeout")  # fmt: skip
    reasons = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}
    return errors.ApiError(
        int(fault.status or 500), f"injected fault: {fault.method} {fault.resource}",
        reason=reasons.get(int(fault.status or 500)),
    )  # fmt: skip


@web.middleware
async def inject(request: web.Request, handler: Any) -> web.StreamResponse:
    resource = resource_of(request.path)
    if resource is not None:
        fault = _take(request.app[FAULTS_KEY], request.method, resource)
        if fault is not None:
            if fault.timeout is not None:
                await asyncio.sleep(fault.timeout)
            raise _error(fault)
    response: web.StreamResponse = await handler(request)
    return response


async def faults_route(request: web.Request) -> web.Response:
    faults: list[Fault] = request.app[FAULTS_KEY]
    if request.method == "POST":
        try:
            body = await request.json()
        except ValueError:
            raise errors.bad_request("the fault body is not JSON") from None
        if not isinstance(body, dict):
            raise errors.bad_request("the fault body must be a JSON object")
        faults.append(parse(body))
    elif request.method == "DELETE":
        faults.clear()
    return web.json_response({"faults": [asdict(f) for f in faults]})


def install(app: web.Application) -> None:
    """The hook's state, route and middleware (after the guard: auth first, then the fault)."""
    app[FAULTS_KEY] = []
    app.middlewares.append(inject)
    for method in ("GET", "POST", "DELETE"):
        app.router.add_route(method, "/sandbox/faults", faults_route)
