"""Jangar freshness probe: accepted answer shapes, and a real HTTP server started by the test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from exporter.clients.http import HttpError, new_session
from exporter.families.jangar import collect
from exporter.probes.jangar import JangarError, parse_latest, parse_time, render

TS = datetime(2026, 11, 28, 14, 3, 1, 250_000, tzinfo=UTC)


@pytest.mark.parametrize(
    "body",
    [
        {"symbol": "NVDA", "event_ts": "2026-11-28T14:03:01.250Z"},
        {"symbol": "NVDA", "event_ts": "2026-11-28T09:03:01.250-05:00"},
        {"symbol": "NVDA", "event_ts": "2026-11-28T14:03:01.250"},  # no zone: UTC
        {"event_ts": int(TS.timestamp() * 1000)},
        {"event_ts": str(int(TS.timestamp() * 1000))},
        {"data": {"symbol": "NVDA", "event_ts": TS.timestamp()}},
        {"latest": [{"event_ts": "2026-11-28T14:00:00Z"}, {"event_ts": "2026-11-28T14:03:01.25Z"}]},
    ],
)
def test_accepted_shapes(body: dict[str, Any]) -> None:
    assert parse_latest(body, symbol="NVDA") == pytest.approx(TS.timestamp())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2], "expected a JSON object"),
        ({"symbol": "NVDA", "price": 1}, "no event_ts"),
        ({"symbol": "AAPL", "event_ts": "2026-11-28T14:03:01Z"}, "answer is for AAPL"),
        ({"event_ts": "yesterday"}, "not ISO-8601"),
        ({"event_ts": True}, "not a timestamp"),
    ],
)
def test_unaccepted_shapes_say_why(body: Any, message: str) -> None:
    with pytest.raises(JangarError, match=message):
        parse_latest(body, symbol="NVDA")


def test_epoch_seconds_and_millis() -> None:
    assert parse_time(1_800_000_000) == 1_800_000_000
    assert parse_time(1_800_000_000_500) == 1_800_000_000.5


Handler = Callable[[web.Request], Any]


@pytest.fixture
async def jangar_server() -> AsyncIterator[Callable[[Handler], Any]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_get("/api/torghut/ta/latest", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_serves_newest_event_per_symbol_and_404_means_no_series(jangar_server) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    served = {"NVDA": now - timedelta(seconds=5), "AAPL": now - timedelta(minutes=3)}

    async def latest(request: web.Request) -> web.Response:
        symbol = request.query["symbol"]
        if symbol not in served:
            return web.json_response({"error": "no signals for symbol"}, status=404)
        ts = served[symbol].isoformat().replace("+00:00", "Z")
        return web.json_response({"symbol": symbol, "event_ts": ts, "macd": 0.1})

    url = await jangar_server(latest)
    async with new_session(timeout=3) as session:
        data = await collect(
            session, url=url, path="/api/torghut/ta/latest", symbols=["NVDA", "AAPL", "MSFT"]
        )
    assert data.latest == {s: t.timestamp() for s, t in served.items()}
    assert data.missing == ("MSFT",)
    assert {s.labels["symbol"]: s.value for s in render(data)} == data.latest


@pytest.mark.parametrize(
    ("status", "text", "message"),
    [
        (500, "boom", "HTTP 500: boom"),
        (200, "<html>not json</html>", "not JSON"),
    ],
)
async def test_server_errors_and_garbage_fail_the_probe(
    jangar_server, status, text, message
) -> None:
    async def bad(request: web.Request) -> web.Response:
        return web.Response(status=status, text=text)

    url = await jangar_server(bad)
    async with new_session(timeout=3) as session:
        with pytest.raises(HttpError, match=message):
            await collect(session, url=url, path="/api/torghut/ta/latest", symbols=["NVDA"])


async def test_unreachable_api_fails_with_connect_reason() -> None:
    from sandbox.util import free_port

    async with new_session(timeout=3) as session:
        with pytest.raises(HttpError, match="cannot connect"):
            await collect(
                session, url=f"http://127.0.0.1:{free_port()}", path="/x", symbols=["NVDA"]
            )


def test_rendered_series_fit_the_catalogue() -> None:
    from exporter.probes.jangar import JangarFreshness
    from exporter.scheduler import check_samples

    assert len(check_samples(render(JangarFreshness({"NVDA": 1.0, "AAPL": 2.0}, ())))) == 2


@pytest.mark.slow
async def test_sandbox_jangar_serves_what_clickhouse_holds(clickhouse_server, tmp_path) -> None:
    from sandbox import jangar

    client = clickhouse_server.client()
    written = datetime.now(UTC).replace(microsecond=250_000) - timedelta(seconds=42)
    client.command(
        "INSERT INTO torghut.ta_signals (event_ts, symbol) VALUES "
        f"(toDateTime64('{written:%Y-%m-%d %H:%M:%S.%f}', 3, 'UTC'), 'JNGR'), "
        f"(toDateTime64('{written - timedelta(minutes=5):%Y-%m-%d %H:%M:%S.%f}', 3, 'UTC'), 'JNGR')"
    )
    truth = client.query(
        "SELECT toUnixTimestamp64Milli(max(event_ts)) FROM torghut.ta_signals WHERE symbol = 'JNGR'"
    ).result_rows[0][0]
    client.close()
    secret = tmp_path / "ch-password"
    secret.write_text(clickhouse_server.password)
    service = jangar.launch(
        tmp_path,
        clickhouse_url=clickhouse_server.url,
        clickhouse_user=clickhouse_server.user,
        clickhouse_password_file=secret,
    )
    try:
        async with new_session(timeout=5) as session:
            data = await collect(
                session,
                url=service.endpoints["jangar"],
                path="/api/torghut/ta/latest",
                symbols=["JNGR", "NOPE"],
            )
    finally:
        service.stop()
    assert data.latest == {"JNGR": truth / 1000}
    assert data.missing == ("NOPE",)
