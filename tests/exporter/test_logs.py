"""Structured logs: one JSON object per line, extras kept, secrets masked."""

from __future__ import annotations

import io
import json
import logging

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
