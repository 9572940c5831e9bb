"""Driving the approvals page in a real headless Chromium (Debian's `chromium` and
`chromium-driver`, through selenium) as a person on a phone does: log in with a token, find the
run that waits, approve it, watch it continue. The screenshot goes to `.artifacts/`."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from sandbox.util import poll_until

ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts"
PHONE = (412, 915)  # CSS pixels of a common phone


@contextmanager
def chromium(profile: Path) -> Iterator[WebDriver]:
    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.fail("chromium and chromedriver are required (Debian: chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespace for Chromium's sandbox
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(arg)
    # a phone's screen: without the page's viewport meta its layout would be 980px wide
    metrics = {"width": PHONE[0], "height": PHONE[1], "pixelRatio": 2.0}
    opts.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(driver_path))
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()


def log_in(driver: WebDriver, base: str, token: str) -> None:
    driver.get(f"{base}/ui")
    assert driver.current_url.endswith("/ui/login"), driver.current_url
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form[action='/ui/login'] button").click()
    poll_until(
        lambda: driver.current_url.endswith("/ui"), timeout=30, interval=0.2, what="logged in"
    )


def forged_post(driver: WebDriver, url: str, fields: dict[str, str]) -> int:
    """A POST carrying the browser's session cookie but no CSRF token (what a cross-site form
    would send if SameSite did not stop the cookie): the status it gets."""
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in driver.get_cookies())
    req = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(fields).encode(),
        method="POST",
        headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def csp_violations(driver: WebDriver) -> list[str]:
    return [
        str(e["message"])
        for e in driver.get_log("browser")
        if "Content Security Policy" in str(e.get("message", ""))
    ]


def approve_in_the_page(
    driver: WebDriver,
    base: str,
    token: str,
    run_id: str,
    *,
    waiting: Callable[[], bool],
    continued: Callable[[], Any],
    screenshot: str = "approvals.png",
    timeout: float = 300.0,
) -> Any:
    """Log in, refuse a forged approval, approve with a reason, poll the page until the run has
    moved on (`continued` returns a truthy value). Returns what `continued` returned."""
    log_in(driver, base, token)
    card = driver.find_element(By.ID, run_id)
    assert "Waiting for your decision" in card.text, card.text
    approve = card.find_element(By.CSS_SELECTOR, "button.approve")
    # the stylesheet loaded under the CSP (the approve button is green, not the default grey)
    assert approve.value_of_css_property("background-color") == "rgba(27, 110, 42, 1)"
    # laid out for the phone's width (the viewport meta), nothing wider: no sideways scrolling
    widths = driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert widths[0] <= widths[1] == PHONE[0], widths
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / screenshot))

    status = forged_post(driver, f"{base}/ui/runs/{run_id}/approve", {"reason": "forged"})
    assert status == 403, status
    assert waiting(), "a POST without the CSRF token changed the run"

    card.find_element(By.CSS_SELECTOR, "input[name=reason]").send_keys("checked: approve")
    approve.click()
    poll_until(
        lambda: f"/ui/runs/{run_id}" in driver.current_url,
        timeout=30,
        interval=0.2,
        what="the run's page after approving",
    )
    flash = driver.find_element(By.CSS_SELECTOR, ".flash").text
    assert "approved by" in flash, flash

    def moved_on() -> Any:
        driver.refresh()
        return continued()

    result = poll_until(moved_on, timeout=timeout, interval=1.0, what="the run continued")
    assert csp_violations(driver) == []
    return result
