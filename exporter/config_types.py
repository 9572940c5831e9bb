"""The config's value types: durations, URLs, and the strict base model every section uses."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlparse

from pydantic import BaseModel, BeforeValidator, ConfigDict

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like `500ms`, `15s`, `5m`, `2h`, `7d`."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15s, 5m or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT[m.group(2)]
    else:
        raise ValueError(
            f"expected a duration such as 15s, 5m or a number of seconds, got {value!r}"
        )
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _check_url(value: str, schemes: tuple[str, ...] = ("http", "https")) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in schemes:
        raise ValueError(
            f"URL must start with {' or '.join(s + '://' for s in schemes)}, got {value!r}"
        )
    if not parsed.hostname:
        raise ValueError(f"URL has no host: {value!r}")
    if parsed.username or parsed.password:
        raise ValueError("URL must not carry credentials; use a secret reference")
    return value.rstrip("/")


HttpUrl = Annotated[str, BeforeValidator(lambda v: _check_url(str(v)))]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
