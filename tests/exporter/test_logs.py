"""Structured logs: one JSON object per line, extras kept, secrets masked."""

from __future__ import annotations

import io
import json
import logging

import pytest

from exporter.logs import register_secrets, setup_logging


def test_json_lines_with_masked_secrets() -> None:
    stream = io.StringIO()
    setup_logging("info", stream)
    register_secrets("hunter2-secret")
    log = logging.getLogger("exporter.test")
    log.warning("probe failed", extra={"probe": "p", "error": "auth hunter2-secret rejected"})
    log.debug("hidden")
    [line] = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "warning" and entry["msg"] == "probe failed"
    assert entry["probe"] == "p" and entry["logger"] == "exporter.test"
    assert "hunter2-secret" not in line and entry["error"] == "auth *** rejected"
    logging.getLogger().handlers.clear()


@pytest.mark.parametrize(
    "secret",
    ['pa"ss\\word', "pässwörd-ü", 'x"y', "tab\there", "🔑-secret"],
)
def test_secrets_that_json_escapes_are_masked(secret: str) -> None:
    stream = io.StringIO()
    setup_logging("info", stream)
    register_secrets(secret)
    log = logging.getLogger("exporter.test")
    try:
        raise ValueError(f"login with {secret} refused")
    except ValueError:
        log.exception("probe %s failed: %s", "p", secret, extra={"error": f"auth {secret} bad"})
    [line] = stream.getvalue().splitlines()
    logging.getLogger().handlers.clear()
    entry = json.loads(line)
    text = json.dumps(entry, ensure_ascii=False)
    assert secret not in text and secret not in line
    assert json.dumps(secret)[1:-1] not in line  # nor its escaped spelling
    assert entry["msg"] == "probe p failed: ***"
    assert entry["error"] == "auth *** bad"
    assert "login with *** refused" in entry["exc"]


def test_a_numeric_secret_in_a_number_field_is_masked() -> None:
    stream = io.StringIO()
    setup_logging("info", stream)
    register_secrets("987654321")
    logging.getLogger("exporter.test").info("pin", extra={"pin": 987654321, "port": 9108})
    entry = json.loads(stream.getvalue())
    logging.getLogger().handlers.clear()
    assert entry["pin"] == "***" and entry["port"] == 9108
