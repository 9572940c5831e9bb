"""The alert thresholds of alerts/thresholds.yaml, typed and checked.

Both the rules generator (alerts/build.py) and the dashboards read them from here, so a threshold
line on a panel is the alert's own.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

FILE = Path(__file__).resolve().parent / "thresholds.yaml"
_DURATION = re.compile(r"^[1-9][0-9]*[smhd]$")


class Thresholds(BaseModel):
    """Seconds unless the name says otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    signals_stale_seconds: int = Field(gt=0)
    freshness_unread_seconds: int = Field(gt=0)
    disk_free_ratio_min: float = Field(gt=0, lt=1)
    disk_full_horizon_seconds: int = Field(gt=0)
    disk_trend_window: str
    checkpoint_intervals: int = Field(gt=0)
    checkpoint_min_seconds: int = Field(gt=0)
    checkpoint_unknown_interval_seconds: int = Field(gt=0)
    kafka_lag_seconds: int = Field(gt=0)
    retention_left_seconds: int = Field(gt=0)

    @field_validator("disk_trend_window")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not _DURATION.match(value):
            raise ValueError(f"{value!r} is not a Prometheus duration such as 1h or 30m")
        return value


class ThresholdsError(ValueError):
    """The thresholds file is missing, not YAML, or has a bad key."""


def load(path: Path = FILE) -> Thresholds:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ThresholdsError(f"{path}: {exc}") from None
    if not isinstance(doc, dict):
        raise ThresholdsError(f"{path}: expected a mapping of threshold names to values")
    try:
        return Thresholds.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise ThresholdsError(f"{path}: {problems}") from None


@cache
def current() -> Thresholds:
    """The repository's thresholds (read once)."""
    return load()


def human(seconds: float) -> str:
    """300 -> '5m', 21600 -> '6h', 90 -> '90s': how rules and pages write a threshold."""
    s = int(seconds)
    if s != seconds:
        raise ValueError(f"{seconds} is not a whole number of seconds")
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"
