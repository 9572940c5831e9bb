"""ClickHouse HTTP interface rules: which URL params are settings, where the SQL ends and data begins."""

from __future__ import annotations

import re
from collections.abc import Mapping

import lz4.frame

from sandbox.clickhouse.engine import Statement
from sandbox.clickhouse.errors import NOT_IMPLEMENTED, ClickHouseError

# URL params the HTTP handler consumes itself; everything else (but param_*) is a query setting.
TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "session_id",
        "session_timeout",
        "session_check",
        "query_id",
        "quota_key",
        "user",
        "password",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "client_protocol_version",
        "role",
        "enable_http_compression",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "http_zlib_compression_level",
        "http_native_compression_disable_checksumming_on_decompress",
        "cancel_http_readonly_queries_on_client_close",
        "http_wait_end_of_query",
        "http_response_buffer_size",
        "add_http_cors_header",
    }
)

# INSERT ... FORMAT <name>, then optional blanks and one newline; the rest of the body is data.
_INSERT_FORMAT = re.compile(
    rb"^\s*(INSERT\s+INTO\s.*?)\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)[ \t]*(?:\r?\n)?",
    re.IGNORECASE | re.DOTALL,
)
_NOT_DATA = re.compile(rb"\b(VALUES|SELECT|WITH)\b", re.IGNORECASE)  # FORMAT is inside the SQL
_HEAD_LIMIT = 256 * 1024  # the SQL part of a body is looked for in its first bytes only


# Statements whose pipeline ends in an output format; ClickHouse names that format in the
# X-ClickHouse-Format header even for zero rows, and sends no such header for INSERT, DDL,
# SET, SYSTEM ... (clickhouse-connect's `command` returns a QuerySummary only then).
_RESULT_STATEMENT = re.compile(
    r"^(?:\s+|--[^\n]*(?:\n|$)|\#[^\n]*(?:\n|$)|/\*.*?\*/|\()*"
    r"(?:SELECT|WITH|SHOW|DESC|DESCRIBE|EXISTS|EXPLAIN|CHECK|KILL|FROM)\b",
    re.IGNORECASE | re.DOTALL,
)


def produces_result(sql: str) -> bool:
    """Whether `sql` is a statement with a result set (SELECT, SHOW, DESCRIBE, EXPLAIN, ...)."""
    return _RESULT_STATEMENT.match(sql) is not None


def decode_body(body: bytes, content_encoding: str | None) -> bytes:
    """Undo a request Content-Encoding aiohttp leaves alone (lz4); gzip/br/zstd arrive decoded."""
    encoding = (content_encoding or "").strip().lower()
    if encoding == "lz4" and body:
        try:
            return lz4.frame.decompress(body)
        except RuntimeError as exc:
            raise ClickHouseError.make(
                271, "CANNOT_DECOMPRESS", f"Cannot decompress lz4 request body: {exc}"
            ) from None
    return body


def split_settings(query: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(settings, params) from URL params: `param_x` are query parameters, transport keys drop."""
    settings: dict[str, str] = {}
    params: dict[str, str] = {}
    for key, value in query.items():
        if key.startswith("param_"):
            params[key[len("param_") :]] = value
        elif key not in TRANSPORT_PARAMS and not key.startswith("http_"):
            settings[key] = value
    return settings, params


def _match_insert(text: bytes) -> re.Match[bytes] | None:
    match = _INSERT_FORMAT.match(text)
    if match and _NOT_DATA.search(match.group(1)):
        return None
    return match


def build_statement(query: Mapping[str, str], body: bytes) -> Statement:
    """Turn URL params plus the (decoded) body into one Statement, like ClickHouse's handler."""
    if query.get("decompress") == "1":
        raise ClickHouseError.make(
            NOT_IMPLEMENTED,
            "NOT_IMPLEMENTED",
            "The sandbox server does not read ClickHouse-compressed bodies (decompress=1)",
        )
    url_sql = query.get("query", "")
    settings, params = split_settings(query)
    timeout = query.get("session_timeout")
    stmt = Statement(
        sql="",
        settings=settings,
        params=params,
        database=query.get("database") or None,
        session_id=query.get("session_id") or None,
        session_timeout=float(timeout) if timeout else None,
        default_format=query.get("default_format") or "TabSeparated",
    )
    if url_sql:
        match = _match_insert(url_sql.encode())
        if match and (body or match.end() == len(url_sql.encode())):
            # the URL holds the INSERT, the body (plus any inline rest) is the data
            stmt.sql = match.group(1).decode().strip()
            stmt.insert_format = match.group(2).decode()
            stmt.data = url_sql.encode()[match.end() :] + body
            return stmt
        stmt.sql = url_sql + ("\n" + body.decode("utf-8", "replace") if body else "")
        return _checked(stmt)
    match = _match_insert(body[:_HEAD_LIMIT])
    if match:
        stmt.sql = match.group(1).decode("utf-8", "replace").strip()
        stmt.insert_format = match.group(2).decode()
        stmt.data = body[match.end() :]
        return stmt
    stmt.sql = body.decode("utf-8", "replace")
    return _checked(stmt)


def _checked(stmt: Statement) -> Statement:
    # chdb takes the SQL as a C string: a NUL would silently cut it short, so refuse it here.
    position = stmt.sql.find("\x00")
    if position >= 0:
        raise ClickHouseError.make(
            62,
            "SYNTAX_ERROR",
            f"Syntax error: failed at position {position + 1}: NUL byte in query",
        )
    if not stmt.sql.strip():
        raise ClickHouseError.make(62, "SYNTAX_ERROR", "Empty query")
    return stmt
