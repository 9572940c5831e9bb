"""GET a JSON document over HTTP with aiohttp; every failure becomes one `HttpError` with a clear reason."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

_SNIPPET = 200
DEFAULT_MAX_BODY = 4 * 1024 * 1024  # a probe's answer is small; anything near this is wrong
_CHUNK = 64 * 1024


class HttpError(Exception):
    """A request failed: connection, timeout, non-2xx status or a body that is not JSON."""

    def __init__(self, url: str, reason: str, *, status: int | None = None) -> None:
        super().__init__(f"GET {url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status


def new_session(*, timeout: float, headers: dict[str, str] | None = None) -> aiohttp.ClientSession:
    """A session with a total per-request timeout; close it when done (`await s.close()`)."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers={"Accept": "application/json", **(headers or {})},
        raise_for_status=False,
    )


def _size(n: int) -> str:
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")


async def _read_bounded(resp: aiohttp.ClientResponse, url: str, limit: int) -> str:
    """The body as text, read in chunks; more than `limit` bytes is an HttpError naming the limit."""
    declared = resp.content_length
    if declared is not None and declared > limit:
        raise HttpError(
            url,
            f"HTTP {resp.status} body of {declared} bytes exceeds the {_size(limit)} limit "
            "(probes.max_body_bytes)",
            status=resp.status,
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise HttpError(
                url,
                f"HTTP {resp.status} body exceeds the {_size(limit)} limit "
                "(probes.max_body_bytes); stopped reading",
                status=resp.status,
            )
        chunks.append(chunk)
    return _decode(b"".join(chunks), resp.charset)


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "..."


async def get_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    params: dict[str, str] | None = None,
    allow_status: tuple[int, ...] = (),
    max_body: int = DEFAULT_MAX_BODY,
) -> tuple[int, Any]:
    """(status, decoded body) of a GET; raises HttpError unless 2xx or listed in `allow_status`.

    A 2xx body must be JSON; an allowed error status with a non-JSON body gives None. A body
    larger than `max_body` bytes is an HttpError (with or without a Content-Length).
    """
    try:
        async with session.get(url, params=params) as resp:
            text = await _read_bounded(resp, url, max_body)
            status = resp.status
    except TimeoutError:
        raise HttpError(url, "timed out") from None
    except asyncio.CancelledError:
        raise
    except aiohttp.ClientConnectorError as exc:
        raise HttpError(url, f"cannot connect: {exc.os_error or exc}") from None
    except aiohttp.ClientError as exc:
        raise HttpError(url, f"{type(exc).__name__}: {exc}") from None
    if not (200 <= status < 300 or status in allow_status):
        raise HttpError(url, f"HTTP {status}: {_snippet(text)}", status=status)
    try:
        return status, json.loads(text)
    except ValueError:
        if status in allow_status and not 200 <= status < 300:
            return status, None  # an allowed error status need not carry JSON
        raise HttpError(
            url, f"HTTP {status} but the body is not JSON: {_snippet(text)!r}"
        ) from None
