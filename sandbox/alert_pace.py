"""The pace of the project's alert rules on the stack's Prometheus (`ta-sandbox up --alert-pace`).

- `real`: the rule files of `alerts/rules/` as shipped (TAFlinkJobFailed fires 2 minutes after
  the job fails, TATradingOnStaleSignals once signals are 5 minutes old plus 2 minutes).
- `fast`: copies of the same rules with every `for:` and every age threshold of a `time() - ...`
  comparison divided by FAST_FACTOR (ages never under FAST_MIN_AGE_S, so a slow probe on a
  loaded machine does not look like an outage). The expressions, labels and routing are the
  shipped ones; only durations change. The stack's exporter and remediator then judge freshness
  by the same (scaled) bound, `FAST_FRESHNESS`.

Game days and `bench/closed_loop.py` use `fast` to keep a scenario to a couple of minutes and
`real` for the realistic preset.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

PACES = ("real", "fast")
FAST_FACTOR = 5
FAST_MIN_AGE_S = 30
# TASignalsStale's 300 s bound, scaled: the report's and the remediator's freshness in `fast`
FAST_FRESHNESS = "60s"
_DURATION = re.compile(r"^(\d+)([smh])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600}
# an age compared with a number of seconds, possibly after closing parens: `time() - <ts>`, or
# the recorded ages (`torghut_ta:*_age_seconds`, `torghut_ta:freshness_unread_seconds`)
_AGE = re.compile(
    r"((?:time\(\)\s*-|torghut_ta:\w+_(?:age|unread)_seconds)[^><]*?\)*\s*>\s*)(\d+)\b"
)


def _scaled_for(text: str) -> str:
    found = _DURATION.match(text.strip())
    if not found:
        raise ValueError(f"rule `for: {text}`: expected a whole number of s, m or h")
    seconds = int(found.group(1)) * _UNIT_S[found.group(2)]
    return f"{max(1, seconds // FAST_FACTOR)}s"


def _scaled_expr(expr: str) -> str:
    def repl(m: re.Match[str]) -> str:
        seconds = int(m.group(2))
        if seconds < 60:  # not an age bound worth scaling
            return m.group(0)
        return f"{m.group(1)}{max(FAST_MIN_AGE_S, seconds // FAST_FACTOR)}"

    return _AGE.sub(repl, expr)


def fast_rules(doc: dict[str, Any]) -> dict[str, Any]:
    """A rules document with `for` and age thresholds scaled (a new object)."""
    groups = []
    for group in doc.get("groups", []):
        rules = []
        for rule in group.get("rules", []):
            rule = dict(rule)
            if "for" in rule:
                rule["for"] = _scaled_for(str(rule["for"]))
            if "expr" in rule:
                rule["expr"] = _scaled_expr(str(rule["expr"]))
            rules.append(rule)
        groups.append({**group, "rules": rules})
    return {**doc, "groups": groups}


def paced_rule_files(rule_files: Sequence[Path], pace: str, outdir: Path) -> list[Path]:
    """The rule files Prometheus loads at `pace`: the originals (`real`) or scaled copies
    written under `outdir` (`fast`)."""
    if pace not in PACES:
        raise ValueError(f"alert pace {pace!r}: expected one of {', '.join(PACES)}")
    if pace == "real":
        return list(rule_files)
    outdir.mkdir(parents=True, exist_ok=True)
    out = []
    for path in rule_files:
        doc = yaml.safe_load(path.read_text())
        target = outdir / path.name
        header = (
            f"# {path.name} at alert pace `fast` (sandbox.alert_pace): durations / {FAST_FACTOR}\n"
        )
        target.write_text(header + yaml.safe_dump(fast_rules(doc), sort_keys=False, width=200))
        out.append(target)
    return out
