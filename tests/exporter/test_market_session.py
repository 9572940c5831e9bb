"""Market session: wall-clock sessions in the exchange's zone, DST and holidays."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from exporter.config import Session, SessionsConfig
from exporter.probes.market import market_state, render

NY = ZoneInfo("America/New_York")
CFG = SessionsConfig(holidays=[date(2026, 11, 26)])  # Thanksgiving 2026


def _at(y: int, mo: int, d: int, h: int, mi: int, tz: ZoneInfo = NY) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=tz).timestamp()


@pytest.mark.parametrize(
    ("when", "is_open"),
    [
        (_at(2026, 11, 27, 9, 29), False),  # Friday before the open
        (_at(2026, 11, 27, 9, 30), True),  # open is inclusive
        (_at(2026, 11, 27, 15, 59), True),
        (_at(2026, 11, 27, 16, 0), False),  # close is exclusive
        (_at(2026, 11, 28, 11, 0), False),  # Saturday
        (_at(2026, 11, 26, 11, 0), False),  # holiday
    ],
)
def test_regular_session(when: float, is_open: bool) -> None:
    assert market_state(CFG, when).open is is_open


def test_open_follows_daylight_saving_time_in_utc() -> None:
    utc = ZoneInfo("UTC")
    # 13:30 UTC is the open in summer (EDT, UTC-4) but 08:30 local in winter (EST, UTC-5)
    assert market_state(CFG, _at(2026, 7, 1, 13, 30, utc)).open
    assert not market_state(CFG, _at(2026, 12, 1, 13, 30, utc)).open
    assert market_state(CFG, _at(2026, 12, 1, 14, 30, utc)).open
    # the Monday after the spring change (2026-03-08): 13:30 UTC is already 09:30 EDT
    assert market_state(CFG, _at(2026, 3, 9, 13, 30, utc)).open
    assert not market_state(CFG, _at(2026, 3, 6, 13, 30, utc)).open  # Friday before: 08:30 EST


def test_several_sessions_and_other_zones() -> None:
    cfg = SessionsConfig(
        timezone="Asia/Tokyo",
        sessions=[
            Session(days=["mon"], open=time(9, 0), close=time(11, 30)),
            Session(days=["mon"], open=time(12, 30), close=time(15, 0)),
        ],
    )
    tokyo = ZoneInfo("Asia/Tokyo")
    assert market_state(cfg, _at(2026, 11, 30, 10, 0, tokyo)).open
    assert not market_state(cfg, _at(2026, 11, 30, 12, 0, tokyo)).open  # lunch break
    assert market_state(cfg, _at(2026, 11, 30, 13, 0, tokyo)).open


def test_render_is_a_single_unlabelled_gauge() -> None:
    (sample,) = render(market_state(CFG, _at(2026, 11, 27, 10, 0)))
    assert (sample.name, sample.value, dict(sample.labels)) == ("torghut_ta_market_open", 1.0, {})


def test_rendered_series_fit_the_catalogue() -> None:
    from exporter.scheduler import check_samples

    assert len(check_samples(render(market_state(CFG, _at(2026, 11, 27, 10, 0))))) == 1
