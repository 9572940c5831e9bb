"""A small Jangar API: serves the newest TA signal per symbol from ClickHouse.

GET /api/torghut/ta/latest?symbol=NVDA
200 {"symbol": "NVDA", "event_ts": "2026-11-28T14:03:01.250Z", "macd": ..., "rsi_14": ...}
404 {"error": "no signals for symbol"}   400 {"error": "..."} on a bad symbol
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import clickhouse_connect
from aiohttp import web

from sandbox.util import Service, free_port, port_open, python_module_args, spawn, wait_started

_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.]{0,9}$")
_QUERY = """
SELECT event_ts, symbol, macd, rsi_14, vwap FROM ta_signals
WHERE symbol = {symbol:String} AND event_ts > now() - INTERVAL 7 DAY
ORDER BY event_ts DESC LIMIT 1
"""


def _iso(ts: datetime) -> str:
    ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_app(client_factory: Any) -> web.Application:
    app = web.Application()

    async def on_startup(app: web.Application) -> None:
        app["ch"] = await client_factory()

    async def on_cleanup(app: web.Application) -> None:
        await app["ch"].close()

    async def latest(request: web.Request) -> web.Response:
        symbol = request.query.get("symbol", "")
        if not _SYMBOL.match(symbol):
            return web.json_response({"error": "symbol must be an uppercase ticker"}, status=400)
        res = await app["ch"].query(_QUERY, parameters={"symbol": symbol})
        if not res.result_rows:
            return web.json_response({"error": "no signals for symbol"}, status=404)
        event_ts, sym, macd, rsi, vwap = res.result_rows[0]
        body = {
            "symbol": sym,
            "event_ts": _iso(event_ts),
            "macd": macd,
            "rsi_14": rsi,
            "vwap": vwap,
        }
        return web.json_response(body)

    app.router.add_get("/api/torghut/ta/latest", latest)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def launch(
    workdir: Path,
    *,
    clickhouse_url: str,
    clickhouse_user: str = "default",
    clickhouse_password_file: Path | None = None,
) -> Service:
    port = free_port()
    args = [
        "--port",
        str(port),
        "--clickhouse",
        clickhouse_url,
        "--clickhouse-user",
        clickhouse_user,
    ]
    if clickhouse_password_file:
        args += ["--clickhouse-password-file", str(clickhouse_password_file)]
    log_path = workdir / "logs" / "jangar.log"
    proc = spawn(python_module_args("sandbox.jangar", *args), log_path=log_path)
    wait_started(proc.pid, lambda: port_open(port), log=log_path, what="Jangar API", timeout=60)
    return Service("jangar", proc.pid, {"jangar": f"http://127.0.0.1:{port}"}, str(log_path))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m sandbox.jangar")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--clickhouse", required=True)
    p.add_argument("--clickhouse-user", default="default")
    p.add_argument("--clickhouse-password-file", type=Path)
    p.add_argument("--database", default="torghut")
    a = p.parse_args(argv)
    host, _, port = a.clickhouse.split("://", 1)[1].partition(":")
    password = a.clickhouse_password_file.read_text().strip() if a.clickhouse_password_file else ""

    async def factory() -> Any:
        return await clickhouse_connect.get_async_client(
            host=host,
            port=int(port or 8123),
            username=a.clickhouse_user,
            password=password,
            database=a.database,
        )

    web.run_app(make_app(factory), host="127.0.0.1", port=a.port, print=None)


if __name__ == "__main__":
    main()
