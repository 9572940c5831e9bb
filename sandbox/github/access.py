"""Who is calling and how much they may still call: tokens, GitHub's error bodies, and the REST
rate limit (`x-ratelimit-*` headers; a primary limit answered 403 or 429 once the budget is
spent, a secondary limit answered with `retry-after`), adjustable at run time for fault tests."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

REST_DOCS = "https://docs.github.com/rest"
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"


def error(status: int, message: str, docs: str = REST_DOCS, **extra: Any) -> web.Response:
    """A GitHub error response: `{"message", "documentation_url", "status"}` (+ e.g. errors)."""
    body = {"message": message, **extra, "documentation_url": docs, "status": str(status)}
    return web.json_response(body, status=status)


class GitHubError(Exception):
    """Raised by handlers; turned into `error(...)` by the middleware."""

    def __init__(self, status: int, message: str, docs: str = REST_DOCS, **extra: Any) -> None:
        super().__init__(message)
        self.response = error(status, message, docs, **extra)


@dataclass(frozen=True)
class Token:
    login: str
    permission: str  # "write" (pull requests: read and write) or "read"


@dataclass
class Bucket:
    """One identity's core REST budget."""

    limit: int
    window: float
    remaining: int = -1
    reset_at: float = 0.0

    def __post_init__(self) -> None:
        if self.remaining < 0:
            self.remaining = self.limit
        self.reset_at = self.reset_at or time.time() + self.window

    def take(self) -> bool:
        """Spend one request; False when none is left in this window."""
        if time.time() >= self.reset_at:
            self.remaining, self.reset_at = self.limit, time.time() + self.window
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(int(self.reset_at)),
            "x-ratelimit-used": str(self.limit - self.remaining),
            "x-ratelimit-resource": "core",
        }


@dataclass
class Limits:
    """Rate-limit policy: budgets per identity, the status of a spent primary limit, and a
    pending secondary limit (the next `secondary_count` requests get `retry-after`)."""

    limit: int = 5000
    anonymous_limit: int = 60
    window: float = 3600.0
    primary_status: int = 403
    secondary_count: int = 0
    secondary_status: int = 403
    retry_after: int = 60
    buckets: dict[str, Bucket] = field(default_factory=dict)
    overrides: dict[str, float] = field(default_factory=dict)  # remaining / reset_in for new ones

    def bucket(self, who: str | None) -> Bucket:
        key = who or "anonymous"
        if key not in self.buckets:
            limit = self.limit if who else self.anonymous_limit
            self.buckets[key] = self._override(Bucket(limit=limit, window=self.window))
        return self.buckets[key]

    def _override(self, bucket: Bucket) -> Bucket:
        if "remaining" in self.overrides:
            bucket.remaining = max(0, min(int(self.overrides["remaining"]), bucket.limit))
        if "reset_in" in self.overrides:
            bucket.reset_at = time.time() + self.overrides["reset_in"]
        return bucket

    def update(self, body: dict[str, Any]) -> None:
        """Apply `{limit, remaining, reset_in, primary_status, secondary_count,
        secondary_status, retry_after}` (each optional) to every identity's bucket."""
        known = {"limit", "remaining", "reset_in", "primary_status", "secondary_count",
                 "secondary_status", "retry_after"}  # fmt: skip
        unknown = sorted(set(body) - known)
        if unknown:
            raise ValueError(f"unknown rate-limit field {unknown[0]!r}; known: {sorted(known)}")
        for key in ("primary_status", "secondary_status"):
            if key in body and body[key] not in (403, 429):
                raise ValueError(f"{key} must be 403 or 429, got {body[key]!r}")
        for key in ("limit", "secondary_count", "retry_after", "primary_status",
                    "secondary_status"):  # fmt: skip
            if key in body:
                setattr(self, key, int(body[key]))
        self.overrides.update({k: float(body[k]) for k in ("remaining", "reset_in") if k in body})
        for bucket in self.buckets.values():
            if "limit" in body:
                bucket.limit = self.limit
            self._override(bucket)

    def state(self) -> dict[str, Any]:
        return {
            "limit": self.limit, "primary_status": self.primary_status,
            "secondary_count": self.secondary_count, "secondary_status": self.secondary_status,
            "retry_after": self.retry_after,
            "buckets": {k: b.headers() for k, b in self.buckets.items()},
        }  # fmt: skip

    def check(self, who: str | None) -> tuple[dict[str, str], web.Response | None]:
        """Charge one request to `who`; the headers to send and, if refused, the refusal."""
        bucket = self.bucket(who)
        request_id = uuid.uuid4().hex[:20].upper()
        if self.secondary_count > 0:
            self.secondary_count -= 1
            headers = {**bucket.headers(), "retry-after": str(self.retry_after)}
            message = (
                "You have exceeded a secondary rate limit. Please wait a few minutes before you "
                "try again. If you reach out to GitHub Support for help, please include the "
                f"request ID {request_id}."
            )
            return headers, _with(error(self.secondary_status, message, RATE_DOCS), headers)
        if not bucket.take():
            headers = bucket.headers()
            user = f"user ID {_uid(who)}" if who else "127.0.0.1"
            message = (
                f"API rate limit exceeded for {user}. If you reach out to GitHub Support for "
                f"help, please include the request ID {request_id} and timestamp "
                f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC."
            )
            return headers, _with(error(self.primary_status, message, RATE_DOCS), headers)
        return bucket.headers(), None


def _uid(login: str | None) -> int:
    return abs(hash(login)) % 10**8


def _with(resp: web.Response, headers: dict[str, str]) -> web.Response:
    resp.headers.update(headers)
    return resp


def bearer(request: web.Request) -> str | None:
    """The token of `Authorization: Bearer <t>` or `token <t>`; None when absent."""
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return None


def load_tokens(text: str) -> dict[str, Token]:
    """`{"<token>": {"login": ..., "permission": "write"|"read"}}` -> tokens."""
    raw = json.loads(text)
    out: dict[str, Token] = {}
    for token, spec in raw.items():
        if spec.get("permission") not in ("write", "read"):
            raise ValueError(f"token for {spec.get('login')!r}: permission must be write or read")
        out[token] = Token(login=str(spec["login"]), permission=spec["permission"])
    return out
