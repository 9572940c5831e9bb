"""The GitHub REST stand-in's HTTP front: auth, API version and rate limit around the pull
request routes (`pulls.py`), GitHub's error bodies, and the sandbox's own admin hooks."""

from __future__ import annotations

from aiohttp import web

from sandbox.github.access import GitHubError, Token, bearer, error
from sandbox.github.hub import HUB, Handler, Hub, Repo
from sandbox.github.model import PullRequest
from sandbox.github.pulls import (
    check_merged,
    create_pull,
    do_merge,
    find_pull,
    get_pull,
    json_body,
    list_pulls,
    merge_pull,
    update_pull,
)

API_VERSIONS = ("2022-11-28", "2026-03-10")
ADMIN_LOGIN = "sandbox-admin"
OUTAGE_MESSAGES = {500: "Server Error", 502: "Server Error", 503: "Service Unavailable"}


@web.middleware
async def github_front(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Auth, API version, rate limit and GitHub's error bodies around every API route."""
    hub = request.app[HUB]
    token = bearer(request)
    if request.path.startswith("/_sandbox/"):
        if token != hub.admin_token:
            return error(401, "Bad credentials")
        return await _run(handler, request)
    version = request.headers.get("X-GitHub-Api-Version", API_VERSIONS[0])
    if version not in API_VERSIONS:
        return error(400, f"API version {version} is not supported.")
    if hub.outage["count"] > 0:
        hub.outage["count"] -= 1
        return error(hub.outage["status"], OUTAGE_MESSAGES[hub.outage["status"]])
    who: Token | None = None
    if token is not None:
        who = hub.tokens.get(token)
        if who is None:
            return error(401, "Bad credentials")
    headers, refusal = hub.limits.check(who.login if who else None)
    if refusal is not None:
        return refusal
    request["who"] = who
    resp = await _run(handler, request)
    resp.headers.update(headers)
    resp.headers["X-GitHub-Api-Version-Selected"] = version
    return resp


async def _run(handler: Handler, request: web.Request) -> web.StreamResponse:
    try:
        return await handler(request)
    except GitHubError as exc:
        return exc.response
    except web.HTTPException as exc:
        if exc.status == 404:
            return error(404, "Not Found")
        raise


# -- the sandbox's own hooks (admin token) -------------------------------------------------------


def _admin_pull(request: web.Request) -> tuple[Repo, PullRequest]:
    repo = request.app[HUB].repos.get(f"{request.match_info['owner']}/{request.match_info['repo']}")
    if repo is None:
        raise GitHubError(404, "Not Found")
    return repo, find_pull(repo, request, "get-a-pull-request")


async def admin_approve(request: web.Request) -> web.StreamResponse:
    """A reviewer approves the PR (what propose mode waits for)."""
    _, pr = _admin_pull(request)
    body = await json_body(request)
    login = str(body.get("login", ADMIN_LOGIN))
    if login not in pr.approved_by:
        pr.approved_by.append(login)
    return web.json_response({"number": pr.number, "approved_by": pr.approved_by})


async def admin_merge(request: web.Request) -> web.StreamResponse:
    """A person with admin rights merges from the web UI (no approval needed)."""
    repo, pr = _admin_pull(request)
    body = await json_body(request)
    return await do_merge(request, repo, pr, body, str(body.get("login", ADMIN_LOGIN)))


async def admin_settings(request: web.Request) -> web.StreamResponse:
    """GET/PUT `{"required_approvals": n, "rate_limit": {...}, "outage": {"status", "count"}}`
    (see `Limits.update`; `outage`: the next `count` API requests answer `status`, 500/502/503,
    as GitHub does when it is down)."""
    hub = request.app[HUB]
    if request.method == "PUT":
        body = await json_body(request)
        try:
            if "required_approvals" in body:
                hub.required_approvals = int(body["required_approvals"])
            hub.limits.update(body.get("rate_limit", {}))
            if "outage" in body:
                hub.outage = _outage(body["outage"])
        except (TypeError, ValueError) as exc:
            raise GitHubError(422, str(exc)) from None
    return web.json_response(
        {"required_approvals": hub.required_approvals, "rate_limit": hub.limits.state(),
         "outage": hub.outage}
    )  # fmt: skip


def _outage(body: object) -> dict[str, int]:
    if not isinstance(body, dict) or set(body) - {"status", "count"}:
        raise ValueError('outage must be {"status": 500|502|503, "count": n}')
    status, count = int(body.get("status", 503)), int(body.get("count", 0))
    if status not in OUTAGE_MESSAGES:
        raise ValueError(f"outage status must be one of {sorted(OUTAGE_MESSAGES)}, got {status}")
    if count < 0:
        raise ValueError(f"outage count must not be negative, got {count}")
    return {"status": status, "count": count}


def make_app(hub: Hub) -> web.Application:
    app = web.Application(middlewares=[github_front])
    app[HUB] = hub
    pulls = "/repos/{owner}/{repo}/pulls"
    app.router.add_get(pulls, list_pulls)
    app.router.add_post(pulls, create_pull)
    app.router.add_get(pulls + "/{number}", get_pull)
    app.router.add_patch(pulls + "/{number}", update_pull)
    app.router.add_get(pulls + "/{number}/merge", check_merged)
    app.router.add_put(pulls + "/{number}/merge", merge_pull)
    admin = "/_sandbox/repos/{owner}/{repo}/pulls/{number}"
    app.router.add_post(admin + "/approve", admin_approve)
    app.router.add_post(admin + "/merge", admin_merge)
    app.router.add_route("GET", "/_sandbox/settings", admin_settings)
    app.router.add_route("PUT", "/_sandbox/settings", admin_settings)
    return app
