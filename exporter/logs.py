"""JSON structured logs on stderr, one object per line, with every known secret masked."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", ...extra}`; values equal to a registered secret are masked."""

    def __init__(self, secrets: set[str] | None = None) -> None:
        super().__init__()
        self.secrets: set[str] = set(secrets or ())

    def _mask(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret and secret in text:
                text = text.replace(secret, "***")
        return text

    def _value(self, value: Any) -> Any:
        if isinstance(value, bool | None):
            return value
        if isinstance(value, int | float):
            text = str(value)
            return value if self._mask(text) == text else "***"
        return self._mask(str(value))

    def format(self, record: logging.LogRecord) -> str:
        # Masking happens on the plain strings, before JSON encoding: encoded, a secret holding
        # `"`, `\` or non-ASCII is escaped and no longer matches.
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": self._mask(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = self._value(value)
        if record.exc_info:
            entry["exc"] = self._mask(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = self._mask(record.exc_text)
        return json.dumps(entry, default=str)


_formatter = JsonFormatter()


def setup_logging(level: str = "info", stream: TextIO | None = None) -> JsonFormatter:
    """Route the root logger to `stream` (stderr) as JSON lines; returns the formatter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access", "urllib3", "clickhouse_connect"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return _formatter


def register_secrets(*values: str) -> None:
    """Mask these values in every log line from now on."""
    _formatter.secrets.update(v for v in values if v)
