"""Market session: wall-clock sessions in the exchange's zone, DST and holidays."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
import yaml

from exporter.config import ConfigError, parse_config
from exporter.market_config import Session, SessionsConfig
from exporter.probes.market import market_state, render
from tests.exporter.conftest import minimal_config

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


def test_render_is_two_unlabelled_gauges() -> None:
    samples = render(market_state(CFG, _at(2026, 11, 27, 10, 0)))
    assert [(s.name, s.value, dict(s.labels)) for s in samples] == [
        ("torghut_ta_market_open", 1.0, {}),
        ("torghut_ta_market_open_grace", 0.0, {}),
    ]


def test_rendered_series_fit_the_catalogue() -> None:
    from exporter.scheduler import check_samples

    assert len(check_samples(render(market_state(CFG, _at(2026, 11, 27, 10, 0))))) == 2


def _market(text: str) -> SessionsConfig:
    """The `market` section of a full config parsed from YAML text, as the exporter loads it."""
    doc = minimal_config(market=yaml.safe_load(text))
    return parse_config(doc).market


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        # YAML 1.1 reads 10:30 as 630 (base 60): it used to become 00:10:30 and silence alerts
        ('{sessions: [{days: [mon], open: 10:30, close: "16:00"}]}', "[0].open", '"10:30"'),
        # mixed: the close alone unquoted (960) used to be "close must be after open" or a crash
        ('{sessions: [{days: [mon], open: "09:30", close: 16:00}]}', "[0].close", '"16:00"'),
        ('{sessions: [{days: [mon], open: "9:30", close: "16:00"}]}', "[0].open", '"HH:MM"'),
        ('{sessions: [{days: [mon], open: "09:30", close: 4pm}]}', "[0].close", '"HH:MM"'),
        ("{early_closes: {2026-11-27: 13:00}}", "early_closes.2026-11-27", '"13:00"'),
        ('{sessions: [{days: [mon], open: "09:30", close: "24:30"}]}', "[0].close", '"24:00"'),
        ('{sessions: [{days: [mon], open: "24:00", close: "24:00"}]}', "[0]", "after open"),
    ],
)
def test_times_must_be_quoted_hh_mm(text: str, key: str, hint: str) -> None:
    with pytest.raises(ConfigError) as err:
        _market(text)
    message = str(err.value)
    assert f"market.{'sessions' if key.startswith('[') else ''}{key}" in message, message
    assert hint in message, message


def test_quoted_times_and_seconds_are_accepted() -> None:
    market = _market('{sessions: [{days: [mon], open: "10:30", close: "23:59:59"}]}')
    assert (market.sessions[0].open, market.sessions[0].close) == (time(10, 30), time(23, 59, 59))


def test_a_24_00_close_leaves_no_gap_between_days() -> None:
    """Around the clock: a "23:59:59" close shut the market for the last second of every day
    (a remediator's trading gate then refused to act: "the market is closed")."""
    market = _market(
        '{timezone: UTC, sessions: [{days: [mon, tue], open: "00:00", close: "24:00"}]}'
    )
    assert market.sessions[0].close == time.max
    utc = ZoneInfo("UTC")
    last = datetime(2026, 11, 30, 23, 59, 59, 999_999, tzinfo=utc).timestamp()  # a Monday
    assert market_state(market, last).open
    assert market_state(market, last - 0.5).open
    assert market_state(market, _at(2026, 12, 1, 0, 0, utc)).open  # Tuesday's open
    assert not market_state(market, _at(2026, 12, 2, 0, 0, utc)).open  # Wednesday: no session
    half_day = _market(
        '{timezone: UTC, early_closes: {2026-11-30: "13:00"}, '
        'sessions: [{days: [mon], open: "00:00", close: "24:00"}]}'
    )
    assert not market_state(half_day, _at(2026, 11, 30, 13, 0, utc)).open  # the early close wins


def test_early_close_ends_the_session_that_day_only() -> None:
    cfg = _market(
        '{holidays: [2026-11-26], early_closes: {2026-11-27: "13:00"}, sessions: '
        '[{days: [mon, tue, wed, thu, fri], open: "09:30", close: "16:00"}]}'
    )
    assert not market_state(cfg, _at(2026, 11, 26, 11, 0)).open  # Thanksgiving
    day_after = market_state(cfg, _at(2026, 11, 27, 12, 59))
    assert day_after.open and day_after.early_close
    assert not market_state(cfg, _at(2026, 11, 27, 13, 0)).open  # the early close is exclusive
    assert market_state(cfg, _at(2026, 11, 30, 15, 0)).open  # Monday: the regular close again


def test_a_session_that_opens_after_the_early_close_stays_closed() -> None:
    cfg = SessionsConfig(
        early_closes={date(2026, 11, 30): time(11, 0)},
        sessions=[
            Session(days=["mon"], open=time(9, 0), close=time(11, 30)),
            Session(days=["mon"], open=time(12, 30), close=time(15, 0)),
        ],
    )
    assert market_state(cfg, _at(2026, 11, 30, 10, 59)).open
    assert not market_state(cfg, _at(2026, 11, 30, 11, 15)).open
    assert not market_state(cfg, _at(2026, 11, 30, 13, 0)).open


def test_grace_after_each_open() -> None:
    cfg = _market(
        '{open_grace: 5m, sessions: [{days: [mon], open: "09:00", close: "11:30"}, '
        '{days: [mon], open: "12:30", close: "15:00"}]}'
    )
    state = market_state(cfg, _at(2026, 11, 30, 9, 0))
    assert state.open and state.in_grace
    assert market_state(cfg, _at(2026, 11, 30, 9, 4)).in_grace
    assert not market_state(cfg, _at(2026, 11, 30, 9, 5)).in_grace  # grace end is exclusive
    assert market_state(cfg, _at(2026, 11, 30, 12, 32)).in_grace  # after the lunch break too
    closed = market_state(cfg, _at(2026, 11, 30, 8, 58))
    assert not closed.open and not closed.in_grace
    assert [s.value for s in render(state)] == [1.0, 1.0]


def test_no_grace_by_default() -> None:
    assert not market_state(CFG, _at(2026, 11, 27, 9, 30)).in_grace
