"""The approvals page's HTML: Jinja2 templates with autoescaping on (every value from the journal,
an alert or a person is text, never markup), and the pure view of runs they render.

No script anywhere (the page's CSP forbids it); forms post with the CSRF token of the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

from remediator.journal import Run

_BASE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{% block title %}TA remediator{% endblock %}</title>
<link rel="stylesheet" href="/ui/static/ui.css">
</head>
<body>
<header>
<a class="home" href="/ui">TA remediator</a>
{% if who %}<span class="who">{{ who }}{% if not may_act %} (read only){% endif %}</span>
<form class="inline" method="post" action="/ui/logout">
<input type="hidden" name="csrf" value="{{ csrf }}">
<button type="submit" class="plain">Log out</button>
</form>{% endif %}
</header>
<main>
{% if flash %}<p class="flash {{ flash.kind }}" role="status">{{ flash.text }}</p>{% endif %}
{% block main %}{% endblock %}
</main>
</body>
</html>
"""

_LOGIN = """{% extends "base.html" %}
{% block title %}Log in - TA remediator{% endblock %}
{% block main %}
<h1>Log in</h1>
{% if error %}<p class="flash error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="/ui/login" class="card">
<input type="hidden" name="csrf" value="{{ login_csrf }}">
<label for="token">Your remediator API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<button type="submit">Log in</button>
</form>
{% endblock %}
"""

_REASON = """<label>Reason <input name="reason" required maxlength="500"
 placeholder="why (journaled with your name)"></label>"""

_RUN = (
    """{% macro run_card(r, csrf, may_act, open_details) %}
<details class="run {{ r.css }}" id="{{ r.id }}"{% if open_details %} open{% endif %}>
<summary><span class="state">{{ r.status }}</span> <b>{{ r.procedure }}</b> {{ r.target }}
<span class="when">{{ r.created }}</span></summary>
<p><a href="/ui/runs/{{ r.id }}">{{ r.id }}</a> · {{ r.mode }} mode</p>
<p class="reason">{{ r.reason }}</p>
{% if r.pending_approval %}
<section class="approval">
<h3>Waiting for your decision</h3>
<p>Step {{ r.pending_approval.step }} of the plan; expires {{ r.pending_approval.expires }}.</p>
{% if may_act %}
<form method="post" action="/ui/runs/{{ r.id }}/approve">
<input type="hidden" name="csrf" value="{{ csrf }}">
"""
    + _REASON
    + """
<div class="buttons"><button type="submit" class="approve">Approve</button>
<button type="submit" formaction="/ui/runs/{{ r.id }}/deny" class="deny">Deny</button></div>
</form>
{% else %}<p>Your token may read but not approve.</p>{% endif %}
</section>
{% endif %}
{% if r.plan_steps %}<h3>Plan{% if r.shape %} ({{ r.shape }}){% endif %}</h3>
<ol class="plan">{% for s in r.plan_steps %}
<li><code>{{ s.name }}</code> [{{ s.kind }}]{% if s.needs_approval %} <b>needs approval</b>{% endif %}
{% if s.target %}<span class="target">{{ s.target }}</span>{% endif %}<br>{{ s.why }}</li>
{% endfor %}</ol>{% endif %}
{% for note in r.plan_notes %}<p class="note">{{ note }}</p>{% endfor %}
{% if r.steps %}<h3>Steps</h3>
<ol class="steps">{% for s in r.steps %}
<li class="{{ s.status }}"><code>{{ s.name }}</code> <span class="state">{{ s.status }}</span>
{% if s.detail %}<br>{{ s.detail }}{% endif %}
{% for link in s.links %}<br><a href="{{ link.url }}" rel="noreferrer">{{ link.label }}</a>{% endfor %}
{% for key, text in s.texts %}<br>{{ key }}: {{ text }}{% endfor %}
{% for key, diff in s.diffs %}<pre class="diff" aria-label="{{ key }}">{{ diff }}</pre>{% endfor %}
</li>{% endfor %}</ol>{% endif %}
{% if r.decisions %}<h3>Decisions</h3>
<ul class="decisions">{% for d in r.decisions %}
<li class="{{ d.verdict }}">{{ d.at }} <b>{{ d.gate }}</b> {{ d.verdict }}: {{ d.reason }}</li>
{% endfor %}</ul>{% endif %}
{% if r.approvals %}<h3>Approvals</h3>
<ul>{% for a in r.approvals %}<li>step {{ a.step }}: {{ a.verdict }}{% if a.decided_by %} by {{ a.decided_by }}: {{ a.reason }}{% endif %}</li>{% endfor %}</ul>{% endif %}
{% if r.open and may_act %}
<form method="post" action="/ui/runs/{{ r.id }}/cancel" class="cancel">
<input type="hidden" name="csrf" value="{{ csrf }}">
"""
    + _REASON
    + """
<button type="submit" class="deny">Cancel this run</button>
</form>{% endif %}
</details>
{% endmacro %}
"""
)

_INDEX = (
    """{% extends "base.html" %}
{% from "run.html" import run_card %}
{% block main %}
<p class="status">Mode <b>{{ mode }}</b> · remediator {% if paused %}<b class="bad">paused</b>
({{ paused }}){% else %}<b>not paused</b>{% endif %}</p>
{% if waiting %}<h2>Waiting for a person ({{ waiting|length }})</h2>
{% for r in waiting %}{{ run_card(r, csrf, may_act, True) }}{% endfor %}{% endif %}
<details class="card trading{% if trading.pending %} pending{% endif %}"{% if trading.pending %} open{% endif %}>
<summary><b>Trading</b>{% if trading.pending %}: paused by a run, waits for a person{% endif %}</summary>
{% if trading.pending %}<p>Trading was paused by {% for r in trading.pending %}
<a href="/ui/runs/{{ r.id }}">{{ r.id }}</a> ({{ r.when }}){% if not loop.last %}, {% endif %}
{% endfor %}. Resuming is your decision.</p>
{% else %}<p>No run paused trading since {{ trading.last }}.</p>{% endif %}
{% if may_act %}
<form method="post" action="/ui/trading/resume">
<input type="hidden" name="csrf" value="{{ csrf }}">
"""
    + _REASON
    + """
<label class="check"><input type="checkbox" name="signals_known_good" value="true">
The signals are known good (resume even if a fresh read says stale or unknown)</label>
<button type="submit">Resume trading</button>
</form>{% endif %}
</details>
{% if may_act %}
<details class="card">
<summary><b>{{ 'Resume the remediator' if api_paused else 'Pause the remediator' }}</b></summary>
<form method="post" action="/ui/{{ 'resume' if api_paused else 'pause' }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
"""
    + _REASON
    + """
<button type="submit">{{ 'Resume the remediator' if api_paused else 'Pause the remediator' }}</button>
</form>
</details>{% endif %}
<h2>Runs</h2>
{% for r in runs %}{{ run_card(r, csrf, may_act, r.open) }}{% else %}<p>No other runs.</p>{% endfor %}
{% endblock %}
"""
)

_DETAIL = """{% extends "base.html" %}
{% from "run.html" import run_card %}
{% block title %}{{ run.id }} - TA remediator{% endblock %}
{% block main %}
{{ run_card(run, csrf, may_act, True) }}
{% if audit %}<h3>Who did what</h3>
<ul>{% for a in audit %}<li>{{ a.at }} <b>{{ a.who }}</b> {{ a.action }}: {{ a.detail }}</li>{% endfor %}</ul>
{% endif %}
{% endblock %}
"""

_ERROR = """{% extends "base.html" %}
{% block main %}<h1>{{ status }}</h1><p class="flash error">{{ message }}</p>
<p><a href="/ui">Back to the runs</a></p>{% endblock %}
"""

ENV = Environment(
    loader=DictLoader(
        {
            "base.html": _BASE,
            "login.html": _LOGIN,
            "run.html": _RUN,
            "index.html": _INDEX,
            "detail.html": _DETAIL,
            "error.html": _ERROR,
        }
    ),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
)


def render(template: str, **context: Any) -> str:
    context.setdefault("who", None)
    context.setdefault("flash", None)
    context.setdefault("csrf", "")
    context.setdefault("may_act", False)
    return ENV.get_template(template).render(**context)


# --- the view: what the templates show, from journal records -----------------------------------


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def safe_url(value: str) -> str | None:
    """Only http(s) URLs become links (a `javascript:` evidence value stays text)."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme in ("http", "https") and parts.netloc else None


@dataclass(frozen=True)
class Link:
    label: str
    url: str


def _evidence(evidence: dict[str, str]) -> dict[str, Any]:
    links, texts, diffs = [], [], []
    for key, value in sorted(evidence.items()):
        url = safe_url(value) if key.endswith("url") else None
        if url is not None:
            links.append(Link(f"{key}: {value}", url))
        elif "\n" in value or key == "diff":
            diffs.append((key, value))
        else:
            texts.append((key, value))
    return {"links": links, "texts": texts, "diffs": diffs}


def _step_label(step: str, plan: dict[str, Any]) -> str:
    """An approval's step ("2", or "*" for the whole plan) as the page numbers them (from 1)."""
    steps = plan.get("steps") or []
    if not step.isdigit() or int(step) >= len(steps):
        return "every step that needs a person" if step == "*" else step
    return f"{int(step) + 1} ({steps[int(step)].get('name', '')})"


def run_view(run: Run) -> dict[str, Any]:
    plan = (run.plan or {}).get("plan") or {}
    pending = next((a for a in reversed(run.approvals) if a.pending), None)
    return {
        "id": run.id,
        "procedure": run.procedure,
        "target": run.target,
        "mode": run.mode,
        "open": run.open,
        "status": run.state if run.open else f"ended: {run.outcome}",
        "css": "waiting" if pending else ("open" if run.open else "ended"),
        "reason": run.reason,
        "created": when(run.created_at),
        "shape": plan.get("shape", ""),
        "plan_steps": [
            {
                "name": s.get("name", ""),
                "kind": s.get("kind", ""),
                "why": s.get("why", ""),
                "needs_approval": bool(s.get("needs_approval")),
                "target": " ".join(f"{k}={v}" for k, v in sorted(s.get("target", {}).items())),
            }
            for s in plan.get("steps", [])
        ],
        "plan_notes": [
            *(plan.get("notes") or []),
            *(f"{k}: {plan[k]}" for k in ("refused", "escalate") if plan.get(k)),
        ],
        "steps": [
            {"name": s.name, "status": s.status, "detail": s.detail, **_evidence(s.evidence)}
            for s in run.steps
        ],
        "decisions": [
            {"at": when(d.at), "gate": d.gate, "verdict": d.verdict, "reason": d.reason}
            for d in run.decisions
        ],
        "approvals": [
            {
                "step": a.step,
                "verdict": a.verdict or "pending",
                "decided_by": a.decided_by,
                "reason": a.reason,
            }
            for a in run.approvals
        ],
        "pending_approval": None
        if pending is None
        else {"step": _step_label(pending.step, plan), "expires": when(pending.expires_at)},
    }


def trading_view(runs: list[Run], resumed_at: float | None) -> dict[str, Any]:
    """Runs that paused trading after the last resume: trading waits for a person."""
    pending = []
    for run in runs:
        for s in run.steps:
            if s.name == "pause_trading" and s.status == "done":
                at = s.ended_at or run.updated_at
                if resumed_at is None or at > resumed_at:
                    pending.append({"id": run.id, "when": when(at)})
    return {"pending": pending, "last": "the last resume" if resumed_at else "the records began"}
