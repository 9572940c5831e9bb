"""Small builders for plain Grafana dashboard JSON (schemaVersion 39).

Every panel and target uses the `datasource` template variable; panels are placed left to right
on the 24-column grid and wrap to a new line when a panel does not fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 39
DS: dict[str, str] = {"type": "prometheus", "uid": "${datasource}"}
RUNBOOK_BASE = "https://github.com/torghut/torghut-ta-ops/blob/main/docs/runbooks"
TAG = "torghut-ta"
Json = dict[str, Any]
UNKNOWN = "unknown"
UNKNOWN_COLOUR = "purple"  # unknown is never green, and not the red of a known failure


def q(expr: str, legend: str = "", *, instant: bool = False, table: bool = False) -> Json:
    """A Prometheus target (refId is assigned by `panel`)."""
    target: Json = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto"}
    if instant or table:
        target |= {"instant": True, "range": False}
    else:
        target |= {"instant": False, "range": True}
    if table:
        target["format"] = "table"
    return target


def steps(*pairs: tuple[str, float | None]) -> Json:
    """Absolute thresholds: ("green", None), ("red", 300), ..."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in pairs]}


def value_map(entries: dict[int, tuple[str, str]]) -> list[Json]:
    """Value mappings {value: (text, colour)} in one mapping object."""
    options = {
        str(v): {"text": text, "color": color, "index": i}
        for i, (v, (text, color)) in enumerate(entries.items())
    }
    return [{"type": "value", "options": options}]


def unknown_map() -> Json:
    """Null / NaN (a series without a value) shown as unknown."""
    return {
        "type": "special",
        "options": {"match": "null+nan", "result": {"text": UNKNOWN, "color": UNKNOWN_COLOUR}},
    }


def instant(targets: Sequence[Json]) -> list[Json]:
    """The targets as instant queries: a stat shows now, never the last good value of its range."""
    return [t | {"instant": True, "range": False} for t in targets]


def by_ref(ref: str, **props: Any) -> Json:
    """A field override for the series of one query."""
    return {
        "matcher": {"id": "byFrameRefID", "options": ref},
        "properties": [{"id": k, "value": v} for k, v in props.items()],
    }


def panel(
    kind: str,
    title: str,
    targets: Sequence[Json],
    *,
    unit: str,
    description: str,
    runbooks: Sequence[str] = (),
    thresholds: Json | None = None,
    mappings: list[Json] | None = None,
    overrides: list[Json] | None = None,
    options: Json | None = None,
    custom: Json | None = None,
    transformations: list[Json] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    no_value: str | None = None,
) -> Json:
    """One panel; `runbooks` are alert names whose runbook pages the panel links to;
    `no_value`: the text shown when the queries return nothing."""
    defaults: Json = {"unit": unit, "thresholds": thresholds or steps(("green", None))}
    if mappings:
        defaults["mappings"] = mappings
    if no_value is not None:
        defaults["noValue"] = no_value
    if custom:
        defaults["custom"] = custom
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    out: Json = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [t | {"refId": chr(ord("A") + i)} for i, t in enumerate(targets)],
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
        "links": [
            {
                "title": f"Runbook: {name}",
                "url": f"${{runbook_base}}/{name}.md",
                "targetBlank": True,
            }
            for name in runbooks
        ],
    }
    if transformations:
        out["transformations"] = transformations
    return out


def timeseries(title: str, targets: Sequence[Json], **kw: Any) -> Json:
    kw.setdefault("options", {"legend": {"displayMode": "table", "placement": "right"}})
    kw["options"].setdefault("tooltip", {"mode": "multi", "sort": "desc"})
    return panel("timeseries", title, targets, **kw)


def state_timeline(title: str, targets: Sequence[Json], **kw: Any) -> Json:
    kw.setdefault(
        "options",
        {"showValue": "auto", "mergeValues": True, "rowHeight": 0.8, "alignValue": "center"},
    )
    kw.setdefault("custom", {"fillOpacity": 80, "lineWidth": 0})
    return panel("state-timeline", title, targets, **kw)


def _now_or_unknown(targets: Sequence[Json], kw: dict[str, Any]) -> list[Json]:
    """Instant queries, "no data" and null shown as unknown (never a stale last value)."""
    kw.setdefault("no_value", UNKNOWN)
    kw["mappings"] = [*(kw.get("mappings") or []), unknown_map()]
    return instant(targets)


def stat(title: str, targets: Sequence[Json], **kw: Any) -> Json:
    """A stat of instant queries; no data is shown as unknown."""
    targets = _now_or_unknown(targets, kw)
    kw.setdefault(
        "options",
        {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": "value_and_name",
        },
    )
    return panel("stat", title, targets, **kw)


def bargauge(title: str, targets: Sequence[Json], **kw: Any) -> Json:
    """A bar gauge of instant queries; no data is shown as unknown."""
    targets = _now_or_unknown(targets, kw)
    kw.setdefault(
        "options",
        {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal",
            "displayMode": "gradient",
        },
    )
    return panel("bargauge", title, targets, **kw)


def state_code(metric: str, selector: str, states: Sequence[str], by: str) -> str:
    """PromQL turning a state-set gauge into one series per `by` whose value is the 1-based
    index of the current state in `states` (len(states) + 1 for a state not in the list), so a
    state-timeline shows one row per deployment with the state's name from the value mapping."""
    known = "|".join(states)
    parts = [
        f'({metric}{{{selector},state="{s}"}} == 1) * {i}' for i, s in enumerate(states, start=1)
    ]
    parts.append(f'({metric}{{{selector},state!~"{known}"}} == 1) * 0 + {len(states) + 1}')
    return f"max by ({by}) (\n    " + "\n  or\n    ".join(parts) + "\n)"


def query_var(name: str, label: str, expr: str) -> Json:
    """A multi-value query variable (`label_values(...)`) with All = `.*`."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "definition": expr,
        "query": {"query": expr, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "regex": "",
        "sort": 1,
        "hide": 0,
    }


def base_vars() -> list[Json]:
    """The datasource picker and the (hidden) runbook base URL the panel links use."""
    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "regex": "",
            "refresh": 1,
            "hide": 0,
            "options": [],
        },
        {
            "name": "runbook_base",
            "type": "constant",
            "query": RUNBOOK_BASE,
            "current": {"text": RUNBOOK_BASE, "value": RUNBOOK_BASE},
            "hide": 2,
            "options": [{"selected": True, "text": RUNBOOK_BASE, "value": RUNBOOK_BASE}],
        },
    ]


@dataclass
class Grid:
    """Places panels left to right, wrapping at 24 columns; rows start on a new line."""

    panels: list[Json] = field(default_factory=list)
    x: int = 0
    y: int = 0
    line_h: int = 0

    def _newline(self) -> None:
        self.y += self.line_h
        self.x = 0
        self.line_h = 0

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "panels": [],
                "id": len(self.panels) + 1,
                "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1},
            }
        )
        self.y += 1

    def add(self, p: Json, w: int, h: int = 8) -> None:
        if self.x + w > 24:
            self._newline()
        p["id"] = len(self.panels) + 1
        p["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.panels.append(p)
        self.x += w
        self.line_h = max(self.line_h, h)


def dashboard(
    uid: str,
    title: str,
    description: str,
    grid: Grid,
    variables: list[Json],
    annotations: list[Json],
) -> Json:
    builtin = {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": [TAG],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "timezone": "browser",
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "links": [
            {
                "title": "TA dashboards",
                "type": "dashboards",
                "tags": [TAG],
                "asDropdown": True,
                "includeVars": False,
                "keepTime": True,
            },
            {
                "title": "Runbooks",
                "type": "link",
                "url": "${runbook_base}/README.md",
                "targetBlank": True,
                "icon": "doc",
            },
        ],
        "annotations": {"list": [builtin, *annotations]},
        "templating": {"list": base_vars() + variables},
        "panels": grid.panels,
    }


def annotation(name: str, expr: str, title: str, color: str, *, tags: str = "") -> Json:
    """A Prometheus annotation query (consecutive samples merge into one shaded region)."""
    return {
        "name": name,
        "datasource": DS,
        "enable": True,
        "hide": False,
        "iconColor": color,
        "expr": expr,
        "step": "60s",
        "titleFormat": title,
        "tagKeys": tags,
        "textFormat": "",
        "useValueForTime": False,
    }
