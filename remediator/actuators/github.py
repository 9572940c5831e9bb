"""Pull requests through the GitHub REST API (githubkit): create, find by head branch, get,
merge. GitHub's refusals become `ActuationError`s that say whether to retry (a spent rate limit,
with when it resets; a 409; a 5xx; no answer) or to call a person (401, 403, 404, 422); the token
is read from its secret for each call and never appears in a message."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from githubkit import GitHub, TokenAuthStrategy
from githubkit.exception import (
    GitHubException,
    PrimaryRateLimitExceeded,
    RateLimitExceeded,
    RequestFailed,
    RequestTimeout,
)

from remediator.actuators import ActuationError
from remediator.config_gitops import GitHubConfig

T = TypeVar("T")


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str  # html_url, for people
    state: str  # open | closed
    merged: bool
    head_ref: str
    head_sha: str
    merge_commit_sha: str | None


def _pull(data: dict[str, Any]) -> PullRequest:
    return PullRequest(
        number=int(data["number"]),
        url=str(data.get("html_url") or data.get("url") or ""),
        state=str(data["state"]),
        merged=bool(data.get("merged") or data.get("merged_at")),
        head_ref=str(data["head"]["ref"]),
        head_sha=str(data["head"]["sha"]),
        merge_commit_sha=data.get("merge_commit_sha") if data.get("merged_at") else None,
    )


def read_token(cfg: GitHubConfig) -> str:
    try:
        return cfg.token.resolve()
    except ValueError as exc:
        raise ActuationError(
            f"GitHub token (remediator.gitops.github.token): {exc}", escalate=True, code="secret"
        ) from None


@asynccontextmanager
async def _client(cfg: GitHubConfig, token: str) -> AsyncIterator[GitHub[TokenAuthStrategy]]:
    async with GitHub(
        TokenAuthStrategy(token),
        base_url=cfg.api_url,
        auto_retry=False,  # the executor owns retries: it journals each attempt
        http_cache=False,
        timeout=cfg.request_timeout,
        ssl_verify=cfg.ssl_context(),
        trust_env=False,
    ) as gh:
        yield gh


def _github_message(exc: RequestFailed) -> str:
    """GitHub's own words: `message` plus each error's message or code, one line."""
    try:
        body = json.loads(exc.response.content)
    except ValueError:
        return exc.response.text[:200].replace("\n", " ")
    if not isinstance(body, dict):
        return str(body)[:200]
    parts = [str(body.get("message", ""))]
    for err in body.get("errors") or []:
        if isinstance(err, dict):
            detail = err.get("message") or " ".join(
                str(err[k]) for k in ("field", "code") if k in err
            )
            parts.append(str(detail))
    return ": ".join(p for p in parts if p)


def _reset_text(exc: RateLimitExceeded) -> str:
    reset = exc.response.headers.get("x-ratelimit-reset")
    if isinstance(exc, PrimaryRateLimitExceeded) and reset and reset.isdigit():
        at = datetime.fromtimestamp(int(reset), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"resets at {at} (in {max(0, int(reset) - int(time.time()))} s)"
    return f"retry after {int(exc.retry_after.total_seconds())} s"


def to_error(exc: GitHubException, what: str) -> ActuationError:
    """One GitHub failure as the actuator contract's error."""
    if isinstance(exc, RateLimitExceeded):
        kind = "primary" if isinstance(exc, PrimaryRateLimitExceeded) else "secondary"
        return ActuationError(
            f"GitHub {what}: {kind} rate limit exhausted "
            f"({exc.response.status_code}); {_reset_text(exc)}",
            retryable=True,
            code="rate-limit",
        )
    if isinstance(exc, RequestFailed):
        status = exc.response.status_code
        msg = f"GitHub {what}: {status} {_github_message(exc)}"
        if status == 401:
            return ActuationError(
                msg + " (check remediator.gitops.github.token)", escalate=True, code="401"
            )
        if status == 429:
            return ActuationError(msg, retryable=True, code="rate-limit")
        if status == 409 or status >= 500:
            return ActuationError(msg, retryable=True, code=str(status))
        return ActuationError(msg, escalate=True, code=str(status))
    if isinstance(exc, RequestTimeout):
        return ActuationError(f"GitHub {what}: no answer in time", retryable=True, code="timeout")
    cause = getattr(exc, "exc", exc)
    return ActuationError(
        f"GitHub {what}: {type(cause).__name__}", retryable=True, code="unreachable"
    )


async def _call(cfg: GitHubConfig, what: str, fn: Callable[[GitHub[Any]], Awaitable[T]]) -> T:
    token = read_token(cfg)
    try:
        async with _client(cfg, token) as gh:
            return await fn(gh)
    except GitHubException as exc:
        err = to_error(exc, what)
        if token and token in str(err):  # GitHub never echoes it; belt and braces
            err = ActuationError(str(err).replace(token, "***"), retryable=err.retryable,
                                 escalate=err.escalate, code=err.code)  # fmt: skip
        raise err from None


async def create_pull(
    *, cfg: GitHubConfig, head: str, base: str, title: str, body: str
) -> PullRequest:
    async def go(gh: GitHub[Any]) -> PullRequest:
        resp = await gh.rest.pulls.async_create(
            cfg.owner, cfg.name, title=title, head=head, base=base, body=body
        )
        data: Any = resp.json()
        return _pull(data)

    return await _call(cfg, f"create pull request {head} -> {base}", go)


async def find_pull(
    *, cfg: GitHubConfig, head: str, base: str, state: Literal["open", "closed", "all"] = "all"
) -> PullRequest | None:
    """The newest pull request from our `head` branch into `base` (an open one first)."""

    async def go(gh: GitHub[Any]) -> PullRequest | None:
        resp = await gh.rest.pulls.async_list(
            cfg.owner, cfg.name, state=state, head=f"{cfg.owner}:{head}", base=base,
            sort="created", direction="desc", per_page=100,
        )  # fmt: skip
        data: Any = resp.json()
        pulls = [_pull(p) for p in data]
        pulls.sort(key=lambda p: (p.state == "open", p.number), reverse=True)
        return pulls[0] if pulls else None

    return await _call(cfg, f"list pull requests of {head}", go)


async def get_pull(*, cfg: GitHubConfig, number: int) -> PullRequest:
    async def go(gh: GitHub[Any]) -> PullRequest:
        data: Any = (await gh.rest.pulls.async_get(cfg.owner, cfg.name, number)).json()
        return _pull(data)

    return await _call(cfg, f"get pull request #{number}", go)


async def merge_pull(*, cfg: GitHubConfig, number: int, sha: str) -> str:
    """Merge #number if its head is still `sha`; the merge commit's sha."""

    async def go(gh: GitHub[Any]) -> str:
        resp = await gh.rest.pulls.async_merge(
            cfg.owner, cfg.name, number, sha=sha, merge_method=cfg.merge_method
        )
        data: Any = resp.json()
        return str(data["sha"])

    try:
        return await _call(cfg, f"merge pull request #{number}", go)
    except ActuationError as err:
        # 405: GitHub would not merge; only a moved base is worth another try
        if err.code == "405" and "Base branch was modified" in str(err):
            raise ActuationError(str(err), retryable=True, code="405") from None
        raise
