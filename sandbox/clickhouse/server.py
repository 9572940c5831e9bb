"""aiohttp front speaking the ClickHouse HTTP interface over an Engine.

chdb calls run in a thread pool so slow queries never block the event loop or each other.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import re
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from aiohttp import web

from sandbox.clickhouse.engine import Engine, Statement
from sandbox.clickhouse.errors import AUTHENTICATION_FAILED, STD_EXCEPTION, ClickHouseError
from sandbox.clickhouse.grants import Grant, authorize, check_settings
from sandbox.clickhouse.protocol import build_statement, decode_body, produces_result
from sandbox.clickhouse.summary import Outcome

log = logging.getLogger(__name__)

_FORMAT_AT_END = re.compile(r"\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*;?\s*$", re.IGNORECASE)
_BINARY_FORMATS = {"native", "rowbinary", "rowbinarywithnamesandtypes", "parquet", "arrow"}
ENGINE_KEY = web.AppKey("engine", Engine)
STATE_KEY = web.AppKey("state", "ServerState")


@dataclass
class ServerState:
    """Credentials the server accepts, each user's grants (None: all) and the pool chdb calls
    run on."""

    users: dict[str, str] = field(default_factory=lambda: {"default": ""})
    grants: dict[str, list[Grant]] = field(default_factory=dict)
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=16, thread_name_prefix="chdb")
    )


def _credentials(request: web.Request) -> tuple[str, str]:
    """User and password from Basic auth, X-ClickHouse-User/Key, or user/password params."""
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, password = "", ""
        return user or "default", password
    user = request.headers.get("X-ClickHouse-User") or request.query.get("user") or "default"
    password = request.headers.get("X-ClickHouse-Key") or request.query.get("password") or ""
    return user, password


def _authenticate(request: web.Request, users: dict[str, str]) -> str:
    user, password = _credentials(request)
    expected = users.get(user)
    if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
        raise ClickHouseError.make(
            AUTHENTICATION_FAILED,
            "AUTHENTICATION_FAILED",
            f"{user}: Authentication failed: password is incorrect, "
            "or there is no user with such name",
        )
    return user


def _execute_as(engine: Engine, stmt: Statement, user: str, grants: list[Grant] | None) -> Outcome:
    """Run `stmt` for `user`, first checking a restricted user's grants (see grants.py)."""
    if grants is not None:
        check_settings(stmt.settings)
        sql = stmt.sql if stmt.data is None else f"{stmt.sql} FORMAT {stmt.insert_format}"

        def run(query: str, params: dict[str, str]) -> str:
            probe = Statement(
                sql=query, params=params, database=stmt.database,
                default_format="TabSeparatedRaw",
            )  # fmt: skip
            return engine.execute(probe).body.decode()

        authorize(user, grants, sql, stmt.params, stmt.database or "default", run)
    return engine.execute(stmt)


def _nodelay(request: web.Request) -> None:
    # Nagle + delayed ACK costs ~40 ms per request/response pair on loopback.
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _content_type(sql: str, default_format: str) -> tuple[str, str]:
    match = _FORMAT_AT_END.search(sql)
    fmt = match.group(1) if match else default_format
    if fmt.lower() in _BINARY_FORMATS:
        return fmt, "application/octet-stream"
    return fmt, "text/plain; charset=UTF-8"


def _error_response(err: ClickHouseError, engine: Engine, query_id: str) -> web.Response:
    return web.Response(
        status=err.http_status,
        body=f"{err.message} (version {engine.version})\n".encode(),
        headers={
            "X-ClickHouse-Exception-Code": str(err.code),
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Timezone": engine.timezone,
            "Content-Type": "text/plain; charset=UTF-8",
        },
    )


async def handle_query(request: web.Request) -> web.StreamResponse:
    _nodelay(request)
    engine = request.app[ENGINE_KEY]
    state = request.app[STATE_KEY]
    query_id = request.query.get("query_id") or str(uuid.uuid4())
    try:
        user = _authenticate(request, state.users)
        body = await request.read()
        if request.method == "GET" and not request.query.get("query"):
            return web.Response(text="Ok.\n")
        body = decode_body(body, request.headers.get("Content-Encoding"))
        stmt = build_statement(request.query, body)
        loop = asyncio.get_running_loop()
        outcome: Outcome = await loop.run_in_executor(
            state.pool, _execute_as, engine, stmt, user, state.grants.get(user)
        )
    except ClickHouseError as err:
        return _error_response(err, engine, query_id)
    except Exception as exc:  # never drop the connection: answer like ClickHouse would
        log.exception("request failed")
        err = ClickHouseError.make(STD_EXCEPTION, "STD_EXCEPTION", f"{type(exc).__name__}: {exc}")
        return _error_response(err, engine, query_id)
    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "X-ClickHouse-Query-Id": query_id,
        "X-ClickHouse-Timezone": engine.timezone,
        "X-ClickHouse-Server-Display-Name": "chdb-sandbox",
        "X-ClickHouse-Summary": json.dumps(outcome.summary(), separators=(",", ":")),
    }
    if stmt.data is None and (outcome.body or produces_result(stmt.sql)):
        fmt, headers["Content-Type"] = _content_type(stmt.sql, stmt.default_format)
        headers["X-ClickHouse-Format"] = fmt
    return web.Response(body=outcome.body, headers=headers)


async def handle_ping(request: web.Request) -> web.Response:
    _nodelay(request)
    return web.Response(text="Ok.\n")


def make_app(
    engine: Engine,
    *,
    users: dict[str, str] | None = None,
    grants: dict[str, list[Grant]] | None = None,
) -> web.Application:
    """The aiohttp application: `/` runs queries, `/ping` answers `Ok.`. Users in `grants` are
    restricted to them; every other user may do anything (the sandbox's admin)."""
    app = web.Application(client_max_size=4 * 1024**3)
    app[ENGINE_KEY] = engine
    app[STATE_KEY] = ServerState(users=users or {"default": ""}, grants=grants or {})
    app.router.add_route("GET", "/ping", handle_ping)
    app.router.add_route("*", "/", handle_query)

    async def _shutdown(app: web.Application) -> None:
        app[STATE_KEY].pool.shutdown(wait=False, cancel_futures=True)

    app.on_shutdown.append(_shutdown)
    return app
