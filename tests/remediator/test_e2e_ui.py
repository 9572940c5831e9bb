"""The approvals page end to end on a whole sandbox stack, in a real headless Chromium: the real
`ta-remediator serve` in auto mode with `policy.approve_trading_pause`, so the trading gate's
pause waits for a person. TATradingOnStaleSignals goes through the stack's Alertmanager (on
`--replicated` the TA job cannot write to chdb's read-only replicas: the signals are stale);
the person logs in, a forged POST without the CSRF token is refused, they approve, and the run
continues through the real actuators: the GitOps change merged, Argo CD synced, trading paused
as the exporter sees it. Then resuming trading from the page is refused while the signals are
stale and goes through once the person states they are known good."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from remediator_e2e_kit import (
    GATE,
    Remediator,
    launch,
    post_alerts,
    posted_alerts_stack,
    run,
    runs,
    trading_enabled,
    wait,
)
from selenium.webdriver.common.by import By
from ui_browser_kit import approve_in_the_page, chromium

from sandbox.util import poll_until

pytestmark = [pytest.mark.slow, pytest.mark.replicated, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with posted_alerts_stack(tmp_path_factory.mktemp("e2e-ui") / "stack") as status:
        yield status


@pytest.fixture(scope="module")
def rem(stack: dict[str, Any]) -> Iterator[Remediator]:
    r = launch(stack, "ui", port=stack["port"], policy={"approve_trading_pause": True})
    try:
        yield r
    finally:
        r.stop()


def _flash(driver: Any, expected: str) -> str:
    """The message at the top of the page once the form's answer has loaded."""

    def shown() -> str | None:
        found = driver.find_elements(By.CSS_SELECTOR, ".flash")
        text = found[0].text if found else ""
        return text if expected in text else None

    return str(poll_until(shown, timeout=120, interval=0.5, what=f"the page says {expected!r}"))


def test_approve_the_trading_pause_in_chromium_and_resume_from_the_page(
    stack: dict[str, Any], rem: Remediator, tmp_path: Path
) -> None:
    assert stack["approvals_page"] == f"{stack['remediator']}/ui"
    assert wait(lambda: trading_enabled(stack) == 1.0, "trading on at the start")
    post_alerts(stack, [{"labels": GATE}])
    gate = wait(
        lambda: next((r for r in runs(stack, rem) if r["state"] == "awaiting_approval"), None),
        "the trading gate waits for a person",
    )
    assert gate["procedure"] == "trading_gate" and not gate["acted"]
    token = Path(stack["remediator_token_file"]).read_text().strip()
    with chromium(tmp_path / "chromium") as driver:

        def continued() -> str | None:
            state = driver.find_element(By.CSS_SELECTOR, f"[id='{gate['id']}'] .state").text
            return state if state.startswith("ended") else None

        ended = approve_in_the_page(
            driver,
            rem.url,
            token,
            gate["id"],
            waiting=lambda: run(stack, rem, gate["id"])["state"] == "awaiting_approval",
            continued=continued,
            screenshot="approvals-sandbox.png",
            timeout=600,
        )
        done = run(stack, rem, gate["id"])
        assert ended == "ended: succeeded", done["reason"]
        pause = next(s for s in done["steps"] if s["name"] == "pause_trading")
        assert pause["status"] == "done" and pause["evidence"], pause
        links = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, ".steps a")]
        assert any(v in links for v in pause["evidence"].values()), (links, pause["evidence"])
        assert done["approvals"][0]["decided_by"] == "sandbox-operator"
        wait(lambda: trading_enabled(stack) == 0.0, "the exporter sees trading paused")

        # resuming from the page: the fresh read says stale, so not without the statement
        driver.get(f"{rem.url}/ui")
        form = driver.find_element(By.CSS_SELECTOR, "form[action='/ui/trading/resume']")
        assert form.is_displayed()  # the trading card is open: a run paused trading
        form.find_element(By.NAME, "reason").send_keys("looked at it")
        form.find_element(By.CSS_SELECTOR, "button").click()
        flash = _flash(driver, "refused (409)")  # after a fresh probe cycle
        assert "refused (409): signals are stale" in flash, flash
        assert trading_enabled(stack) == 0.0
        form = driver.find_element(By.CSS_SELECTOR, "form[action='/ui/trading/resume']")
        form.find_element(By.NAME, "reason").send_keys("checked ta_signals by hand")
        form.find_element(By.NAME, "signals_known_good").click()
        form.find_element(By.CSS_SELECTOR, "button").click()
        flash = _flash(driver, "trading resume recorded")
        assert "trading resume recorded by sandbox-operator" in flash, flash
    wait(lambda: trading_enabled(stack) == 1.0, "the exporter sees trading on again")
