"""Reading a snapshot view for the report: evidence, the probes' non-metric facts, masking."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from exporter.snapshot import Series, View
from exporter.verdict import COMPONENT_PROBES, Evidence, Verdict


def metric(name: str) -> str:
    return f"torghut_ta_{name}"


def evidence_of(view: View, metric: str, s: Series, *, timestamp: bool = False) -> Evidence:
    return Evidence(
        metric=metric,
        labels=dict(s.labels),
        value=s.value,
        age_seconds=round(view.now - s.observed_at, 3),
        data_age_seconds=round(view.now - s.value, 3) if timestamp else None,
    )


def series_of(view: View, name: str) -> tuple[Series, ...]:
    return view.series(metric(name))


def active_states(view: View, name: str) -> dict[str, list[Series]]:
    """deployment -> series whose value is 1 in a state-set metric."""
    out: dict[str, list[Series]] = {}
    for s in series_of(view, name):
        out.setdefault(s.labels["deployment"], [])
        if s.value == 1:
            out[s.labels["deployment"]].append(s)
    return out


def belongs(probe: str, prefixes: Iterable[str]) -> bool:
    return any(probe == p or probe.startswith(p + "/") for p in prefixes)


def probe_data(view: View, probe: str) -> Any:
    """A probe's last good data while its samples are still exported, else None."""
    state = view.probes.get(probe)
    if state is None or probe in view.stale or state.data_at is None:
        return None
    return state.data


def _text(value: Any) -> str | None:
    if value is None or value == "" or value == ():
        return None
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _facts(data: Any, *names: str) -> dict[str, str]:
    """Named attributes of a probe's data that are set (read by name: probes stay decoupled)."""
    out: dict[str, str] = {}
    for name in names:
        text = _text(getattr(data, name, None))
        if text is not None:
            out[name] = text
    return out


def with_facts(view: View, verdict: Verdict) -> Verdict:
    """Add the probes' non-metric facts and the errors of its failing probes to a verdict."""
    details = dict(verdict.details)
    component = verdict.component
    if component == "flink":
        dep = probe_data(view, "flink_deployment")
        details |= _facts(dep, "error_type", "error_message")
        if verdict.status != "healthy":
            details |= _facts(dep, "jobmanager_status")
    elif component == "checkpoints":
        store = probe_data(view, "checkpoint_storage")
        details |= _facts(store, "uri", "reason", "walk")
    elif component == "kafka":
        lag = probe_data(view, "kafka_lag")
        details |= _facts(lag, "group", "group_source")
        missing = sorted(
            {
                t
                for name in ("kafka_lag", "kafka_retention")
                for t in getattr(probe_data(view, name), "missing_topics", None) or ()
            }
        )
        if missing:
            details["missing_topics"] = ", ".join(missing)
    failing = {
        f"probe {name}": state.error
        for name, state in sorted(view.probes.items())
        if state.error and belongs(name, COMPONENT_PROBES[component])
    }
    details |= failing
    summary, status = verdict.summary, verdict.status
    if component == "kafka" and "missing_topics" in details and status == "healthy":
        status, summary = "degraded", f"topics missing: {details['missing_topics']}"
    if status == "unknown" and failing:
        summary = f"{summary}; " + "; ".join(f"{k}: {v}" for k, v in failing.items())
    return replace(verdict, status=status, summary=summary, details=details)


def mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def masked(verdict: Verdict, secrets: list[str]) -> Verdict:
    return replace(
        verdict,
        summary=mask(verdict.summary, secrets),
        details={k: mask(v, secrets) for k, v in verdict.details.items()},
    )
