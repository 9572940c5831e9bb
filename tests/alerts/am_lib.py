"""The Alertmanager configs under test: the example (people only), and the example with the
remediator snippet merged in as alerts/alertmanager/remediator-route.yml says to."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

AM_DIR = Path(__file__).resolve().parents[2] / "alerts" / "alertmanager"
EXAMPLE = AM_DIR / "alertmanager.yml"
SNIPPET = AM_DIR / "remediator-route.yml"
REMEDIATOR = "torghut-ta-remediator"
INSTALL_LABELS = ["cluster", "namespace"]


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), f"{path} is not a mapping"
    return doc


def with_remediator(example: dict[str, Any], snippet: dict[str, Any]) -> dict[str, Any]:
    """The snippet's routes first under route.routes, its receiver under receivers."""
    merged = copy.deepcopy(example)
    merged["route"]["routes"] = [*snippet["route"]["routes"], *merged["route"].get("routes", [])]
    merged["receivers"] = [*merged["receivers"], *snippet["receivers"]]
    return merged


def write(config: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')


def matches(matchers: list[str], labels: dict[str, str]) -> bool:
    """Alertmanager's matcher semantics (anchored regexes, a missing label is "")."""
    for text in matchers:
        m = _MATCHER.match(text)
        assert m, f"cannot read matcher {text!r}"
        name, op, value = m.groups()
        got = labels.get(name, "")
        ok = {
            "=": got == value,
            "!=": got != value,
            "=~": re.fullmatch(value, got) is not None,
            "!~": re.fullmatch(value, got) is None,
        }[op]
        if not ok:
            return False
    return True


def local_config(remediator_url: str, people_url: str, token_file: Path) -> dict[str, Any]:
    """The example with the remediator snippet merged in, pointed at local webhooks (the
    remediator's with its bearer token file), with 1 s notification timers. Routes, grouping
    and inhibitions are the shipped ones."""
    config = with_remediator(load(EXAMPLE), load(SNIPPET))
    for route in [config["route"], *config["route"]["routes"]]:
        for key in ("group_wait", "group_interval"):
            if key in route:
                route[key] = "1s"
    config["route"].update(group_wait="1s", group_interval="1s")
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            if receiver["name"] == REMEDIATOR:
                hook["url"] = remediator_url
                hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
            else:
                hook["url"] = people_url
    return config
