"""alerts/thresholds.yaml: one typed source, read by the rules and the dashboards alike; bad
input is refused naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alerts import build, thresholds
from dashboards import overview


def _write(tmp_path: Path, **changes: object) -> Path:
    doc = yaml.safe_load(thresholds.FILE.read_text(encoding="utf-8"))
    doc.update(changes)
    doc = {k: v for k, v in doc.items() if v is not None}
    path = tmp_path / "thresholds.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_the_repository_file_loads() -> None:
    t = thresholds.load()
    assert t.signals_stale_seconds == 300 and t.disk_free_ratio_min == 0.15


def test_dashboards_draw_the_alerts_thresholds() -> None:
    t = thresholds.current()
    assert overview.STALE_S == t.signals_stale_seconds
    assert overview.UNREAD_S == t.freshness_unread_seconds
    assert overview.CHECKPOINT_S == t.checkpoint_unknown_interval_seconds


def test_every_threshold_reaches_the_rules() -> None:
    """Moving any threshold changes the rendered rules: none is left hard-coded in a rule."""
    base = build.render_rules()
    t = thresholds.current()
    for name, value in t.model_dump().items():
        moved = f"{int(value[:-1]) + 1}{value[-1]}" if isinstance(value, str) else value * 2
        if name == "disk_free_ratio_min":
            moved = 0.2
        changed = build.render_rules(thresholds=t.model_copy(update={name: moved}))
        assert changed != base, f"{name} does not reach the rule file"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"signals_stale_seconds": None}, "signals_stale_seconds: Field required"),
        ({"signals_stale_secs": 300}, "signals_stale_secs: Extra inputs are not permitted"),
        ({"kafka_lag_seconds": "300"}, "kafka_lag_seconds: Input should be a valid integer"),
        ({"kafka_lag_seconds": 0}, "kafka_lag_seconds: Input should be greater than 0"),
        ({"disk_free_ratio_min": 15}, "disk_free_ratio_min: Input should be less than 1"),
        ({"disk_trend_window": "1 hour"}, "disk_trend_window: Value error, '1 hour' is not a"),
    ],
)
def test_bad_thresholds_are_refused_naming_the_key(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    path = _write(tmp_path, **changes)
    with pytest.raises(thresholds.ThresholdsError) as exc:
        thresholds.load(path)
    assert str(path) in str(exc.value) and message in str(exc.value)


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text("- 300\n")
    with pytest.raises(thresholds.ThresholdsError, match="expected a mapping"):
        thresholds.load(path)
    with pytest.raises(thresholds.ThresholdsError, match="No such file"):
        thresholds.load(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("seconds", "text"), [(300, "5m"), (120, "2m"), (21600, "6h"), (86400, "1d"), (90, "90s")]
)
def test_human_durations(seconds: int, text: str) -> None:
    assert thresholds.human(seconds) == text
