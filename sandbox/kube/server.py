"""aiohttp front that speaks the Kubernetes REST API over the `Store` (what kubernetes_asyncio
expects: paths, verbs, content types, `Status` errors, chunked watch streams)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sandbox.kube import discovery, errors, rbac
from sandbox.kube.resources import SERVICE_ACCOUNT, Resource, by_path
from sandbox.kube.selectors import field_matcher, label_matcher
from sandbox.kube.store import Store

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STORE_KEY = web.AppKey("store", Store)
SECRET_KEY = web.AppKey("secret", str)
# Every authorization decision, newest last: what a component really asks for (tests compare
# it with what its Role grants). Cleared by /sandbox/reset.
AUDIT_KEY = web.AppKey("audit", collections.deque)
USER_KEY = "kube_user"
TOKEN_SECONDS = 24 * 3600


def status_response(err: errors.ApiError) -> web.Response:
    return web.json_response(err.status(), status=err.code)


def _argocd_unauthenticated() -> web.Response:
    message = "no session information"
    return web.json_response({"error": message, "code": 16, "message": message}, status=401)


def make_app(store: Store, token: str, argocd_token: str | None = None) -> web.Application:
    """The API app; other sandbox parts add their routes (under /sandbox, /argocd) to it.

    `token` is the admin token (and the key ServiceAccount tokens are signed with); the Argo CD
    REST API under /argocd takes `argocd_token` only, as Argo CD knows nothing of Kubernetes
    tokens."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "")
        if request.path.startswith("/argocd/"):
            want = f"Bearer {argocd_token or token}"
            if not hmac.compare_digest(given.encode(), want.encode()):
                return _argocd_unauthenticated()
            user = rbac.User(rbac.ADMIN, ())
        else:
            found = rbac.authenticate(token, given)
            if found is None:
                return status_response(errors.unauthorized())
            user = found
        request[USER_KEY] = user
        try:
            if request.path.startswith("/sandbox/") and not user.admin:
                raise errors.forbidden_path(user.name, request.method.lower(), request.path)
            return await handler(request)
        except errors.ApiError as err:
            return status_response(err)
        except web.HTTPNotFound:
            return status_response(
                errors.ApiError(404, "the server could not find the requested resource", details={})
            )

    app = web.Application(middlewares=[guard])
    app[STORE_KEY] = store
    app[SECRET_KEY] = token
    app[AUDIT_KEY] = collections.deque(maxlen=10000)
    app.router.add_get("/sandbox/audit", _audit)
    for path, body in (
        ("/version", discovery.VERSION),
        ("/api", {"kind": "APIVersions", "versions": ["v1"]}),
        ("/apis", discovery.group_list()),
        ("/api/v1", discovery.resource_list("", "v1")),
    ):  # the generated clients ask for some of these with a trailing slash
        app.router.add_get(path, discovery.static(body))
        app.router.add_get(path + "/", discovery.static(body))
    app.router.add_get("/apis/{group}/{version}", discovery.group_version)
    app.router.add_route("*", "/api/v1/{tail:.+}", _core)
    app.router.add_route("*", "/apis/{group}/{version}/{tail:.+}", _grouped)
    return app


async def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


async def _core(request: web.Request) -> web.StreamResponse:
    return await _dispatch(request, "", "v1", request.match_info["tail"].split("/"))


async def _grouped(request: web.Request) -> web.StreamResponse:
    info = request.match_info
    return await _dispatch(request, info["group"], info["version"], info["tail"].split("/"))


def _dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise errors.bad_request(f'Invalid dry run value: "{value}": supported values: "All"')
    return bool(values)


async def _audit(request: web.Request) -> web.Response:
    """GET /sandbox/audit[?user=...]: the authorization decisions recorded since the reset."""
    user = request.query.get("user")
    items = [a for a in request.app[AUDIT_KEY] if user is None or a["user"] == user]
    return web.json_response({"items": items})


def _authorize(request: web.Request, req: rbac.Request, res: Resource) -> None:
    user: rbac.User = request[USER_KEY]
    ok = rbac.allowed(request.app[STORE_KEY], user, req)
    request.app[AUDIT_KEY].append(
        {
            "user": user.name,
            "verb": req.verb,
            "group": req.group,
            "resource": req.resource,
            "namespace": req.namespace,
            "name": req.name,
            "allowed": ok,
        }
    )
    if not ok:
        sub = req.resource.partition("/")[2] or None
        raise errors.forbidden(res, req.name or None, user.name, req.verb, req.namespace, sub)


async def _dispatch(
    request: web.Request, group: str, version: str, parts: list[str]
) -> web.StreamResponse:
    ns: str | None = None
    if parts[0] == "namespaces" and len(parts) >= 3:
        ns, parts = parts[1], parts[2:]
    elif parts[0] == "namespaces" and len(parts) == 2 and not group:
        return await _json(discovery.namespace(parts[1]))
    res = by_path(group, version, parts[0])
    if res is None or len(parts) > 3:
        raise web.HTTPNotFound()
    if not res.namespaced:
        if ns is not None:
            raise web.HTTPNotFound()
        ns = ""
    name = parts[1] if len(parts) >= 2 else None
    sub = parts[2] if len(parts) == 3 else None
    token_request = sub == "token" and res is SERVICE_ACCOUNT and request.method == "POST"
    if sub is not None and not token_request and (sub != "status" or not res.status_subresource):
        raise web.HTTPNotFound()  # e.g. Argo CD Applications: status is written inline
    store = request.app[STORE_KEY]
    method = request.method
    resource = f"{res.plural}/{sub}" if sub else res.plural

    def allow(verb: str) -> None:
        _authorize(request, rbac.Request(verb, res.group, resource, ns or "", name or ""), res)

    if name is None:
        if method == "GET":
            watching = request.query.get("watch", "").lower() in ("true", "1")
            allow("watch" if watching else "list")
            if watching:
                return await _watch(request, store, res, ns)
            return await _list(request, store, res, ns)
        if method == "POST" and ns is not None:
            allow("create")
            dry = _dry_run(request)
            created = store.create(res, ns, await _body(request), dry_run=dry)
            return await _json(created, 201)
        raise errors.ApiError(405, f"the server does not allow this method on {res.qualified}")
    if ns is None:
        raise web.HTTPNotFound()
    if sub == "token":
        allow("create")
        return await _json(await _token_request(request, ns, name), 201)
    if method == "GET":
        allow("get")
        return await _json(store.get(res, ns, name))
    dry = _dry_run(request) if method in ("PUT", "PATCH", "DELETE") else False
    if method == "PUT":
        allow("update")
        if res.create_on_update and sub is None and store.find(res, ns, name) is None:
            allow("create")  # create-on-update needs both verbs, as in the real handler
            body = await _body(request)
            return await _json(store.replace(res, ns, name, body, dry_run=dry), 201)
        body = await _body(request)
        return await _json(store.replace(res, ns, name, body, subresource=sub, dry_run=dry))
    if method == "PATCH":
        allow("patch")
        body_bytes = await request.read()
        ctype = request.headers.get("Content-Type", "")
        return await _json(
            store.patch(res, ns, name, ctype, body_bytes, subresource=sub, dry_run=dry)
        )
    if method == "DELETE" and sub is None:
        allow("delete")
        gone = store.delete(res, ns, name, dry_run=dry)
        if res.crd:
            return await _json(gone)
        details = {"name": name, "kind": res.plural, "uid": gone["metadata"]["uid"]}
        return await _json(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            }
        )
    raise errors.ApiError(405, f"the server does not allow this method on {res.qualified}")


async def _token_request(request: web.Request, ns: str, name: str) -> dict[str, Any]:
    """TokenRequest: a signed token for an existing ServiceAccount."""
    account = request.app[STORE_KEY].get(SERVICE_ACCOUNT, ns, name)
    body = await _body(request) if request.can_read_body else {}
    spec = body.get("spec") or {}
    seconds = int(spec.get("expirationSeconds") or TOKEN_SECONDS)
    token, expiry = rbac.mint(
        request.app[SECRET_KEY], ns, name, account["metadata"]["uid"], seconds
    )
    return {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
        "spec": {"audiences": spec.get("audiences") or [rbac.ISSUER], "expirationSeconds": seconds},
        "status": {
            "token": token,
            "expirationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expiry)),
        },
    }


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise errors.bad_request("the request body must be a JSON object")
    return body


async def _list(request: web.Request, store: Store, res: Resource, ns: str | None) -> web.Response:
    q = request.query
    items = store.list(res, ns, q.get("labelSelector"), q.get("fieldSelector"))
    return await _json(
        {
            "kind": f"{res.kind}List",
            "apiVersion": res.api_version,
            "metadata": {"resourceVersion": str(store.rv)},
            "items": items,
        }
    )


def _event_line(type_: str, obj: dict[str, Any]) -> bytes:
    return (json.dumps({"type": type_, "object": obj}) + "\n").encode()


async def _watch(
    request: web.Request, store: Store, res: Resource, ns: str | None
) -> web.StreamResponse:
    q = request.query
    by_label, by_field = (
        label_matcher(q.get("labelSelector")),
        field_matcher(q.get("fieldSelector")),
    )
    timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else None
    rv_param = q.get("resourceVersion", "")
    if rv_param and not rv_param.isdigit():
        raise errors.bad_request(f"invalid resource version: {rv_param}")

    def wanted(key: tuple[str, str, str], obj: dict[str, Any]) -> bool:
        return (
            key[0] == res.storage_key
            and (ns is None or key[1] == ns)
            and by_label(obj)
            and by_field(obj)
        )

    queue = store.subscribe()  # before reading the backlog, so nothing falls in between
    try:
        backlog: list[bytes] = []
        if rv_param in ("", "0"):
            backlog = [
                _event_line("ADDED", o) for o in store.list(res, ns) if by_label(o) and by_field(o)
            ]
        else:
            try:
                backlog = [
                    _event_line(e.type, view)
                    for e in store.events_since(int(rv_param))
                    if wanted(e.key, view := store.view(res, e.obj))
                ]
            except errors.ApiError as err:
                backlog = [_event_line("ERROR", err.status())]
        seen = store.rv
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for line in backlog:
            await resp.write(line)
        deadline = time.monotonic() + timeout if timeout is not None else None
        while True:
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                break
            try:
                event = await asyncio.wait_for(queue.get(), wait)
            except TimeoutError:
                break
            if event.rv > seen and wanted(event.key, view := store.view(res, event.obj)):
                await resp.write(_event_line(event.type, view))
        with contextlib.suppress(ConnectionError):
            await resp.write_eof()
        return resp
    except ConnectionError:
        return web.Response(status=499)
    finally:
        store.unsubscribe(queue)
