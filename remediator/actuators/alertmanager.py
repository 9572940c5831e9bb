"""The remediator's own alerts, posted to Alertmanager's v2 API (`POST /api/v2/alerts`) so a person
is reached through the normal routes: `TARemediationFailed` (critical: the pager),
`TARemediationAwaitingApproval` (warning) and the `TARemediationSucceeded` notice (info: chat).

These alerts have one source, this module: no Prometheus rule carries their names (one failure
pages once). Alertmanager identifies an alert by its labels, so labels are stable per run (no
times, no counts): a re-post refreshes the same alert, never a second one. Their routes never
lead back to the remediator (`alertname!~"TARemediation.*"`).
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from remediator.actuators import ActuationError
from remediator.config import RemediatorConfig

log = logging.getLogger(__name__)

RUNBOOK_BASE = "https://github.com/torghut/torghut-ta-ops/blob/main/docs/runbooks"
DOCS_BASE = "https://github.com/torghut/torghut-ta-ops/blob/main/docs"
DASHBOARD_URL = "https://grafana.example.com/d/torghut-ta-remediation"
FAILED = "TARemediationFailed"
AWAITING = "TARemediationAwaitingApproval"
SUCCEEDED = "TARemediationSucceeded"
# the success notice fires once (to chat) and resolves itself after this long: Alertmanager
# never notifies an alert that was only ever seen resolved
NOTICE_FOR = timedelta(minutes=10)
_SNIPPET = 300


@dataclass(frozen=True)
class PostableAlert:
    """One element of Alertmanager's PostableAlerts (api/v2/openapi.yaml)."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    generator_url: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None  # None: resolves after resolve_timeout unless re-posted

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
        }
        if self.generator_url.startswith(("http://", "https://")):  # else Alertmanager: 422
            body["generatorURL"] = self.generator_url
        if self.starts_at is not None:
            body["startsAt"] = _iso(self.starts_at)
        if self.ends_at is not None:
            body["endsAt"] = _iso(self.ends_at)
        return body

    def resolved(self, at: datetime | None = None) -> PostableAlert:
        """The same alert (same labels) ending now: posting it resolves the alert."""
        end = at or datetime.now(UTC)
        return PostableAlert(self.labels, self.annotations, self.generator_url, self.starts_at, end)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _split(target: str) -> tuple[str, str]:
    """`namespace/deployment` (the run's install) -> its two parts."""
    namespace, _, deployment = target.partition("/")
    return namespace, deployment


def _labels(
    alertname: str, severity: str, run_id: str, procedure: str, target: str
) -> dict[str, str]:
    namespace, deployment = _split(target)
    labels = {
        "alertname": alertname,
        "severity": severity,
        "component": "remediator",
        "remediation": "manual",
        "namespace": namespace,
        "procedure": procedure,
        "run_id": run_id,
    }
    if deployment:
        labels["deployment"] = deployment
    return labels


def remediation_failed(
    run_id: str, procedure: str, target: str, reason: str, url: str
) -> PostableAlert:
    """A run failed or escalated: a person must act (critical; the runbook says how). `target`
    is the install, `namespace/deployment`; `url` the run in the remediator's API."""
    return PostableAlert(
        labels=_labels(FAILED, "critical", run_id, procedure, target),
        annotations={
            "summary": f"Remediation run {run_id} (procedure {procedure}) on {target} failed",
            "description": (
                f"{reason}. The target may be half-way through the procedure (e.g. the job left "
                f"suspended): read the run ({url}) before doing anything."
            ),
            "runbook_url": f"{RUNBOOK_BASE}/{FAILED}.md",
            "dashboard_url": DASHBOARD_URL,
        },
        generator_url=url,
    )


def awaiting_approval(
    run_id: str, procedure: str, target: str, step: str, url: str
) -> PostableAlert:
    """A step waits for a person's approval (warning)."""
    return PostableAlert(
        labels=_labels(AWAITING, "warning", run_id, procedure, target),
        annotations={
            "summary": f"Remediation run {run_id} (procedure {procedure}) waits for an approval",
            "description": (
                f"Step {step} of run {run_id} on {target} needs a person: approve or deny it "
                f"(ta-remediator approve|deny {run_id}, or {url}). The incident stays open "
                "until then."
            ),
            "runbook_url": f"{RUNBOOK_BASE}/{AWAITING}.md",
            "dashboard_url": DASHBOARD_URL,
        },
        generator_url=url,
    )


def resolved_by_remediation(
    run_id: str, procedure: str, target: str, summary: str, url: str,
    *, now: datetime | None = None,
) -> PostableAlert:  # fmt: skip
    """The chat notice of a run that fixed the incident (info). It fires once and resolves
    itself after NOTICE_FOR (its endsAt): nobody has to close it."""
    start = now or datetime.now(UTC)
    labels = _labels(SUCCEEDED, "info", run_id, procedure, target)
    labels["remediation"] = "auto"
    return PostableAlert(
        labels=labels,
        annotations={
            "summary": f"Remediation run {run_id} (procedure {procedure}) fixed {target}",
            "description": f"{summary}. The run's timeline: {url}.",
            "runbook_url": f"{DOCS_BASE}/remediator.md",
            "dashboard_url": DASHBOARD_URL,
        },
        generator_url=url,
        starts_at=start,
        ends_at=start + NOTICE_FOR,
    )


def _localized(
    alert: dict[str, Any], runbook_base: str | None, dashboard_url: str | None
) -> dict[str, Any]:
    """The install's runbook and dashboard URLs in place of the repository's defaults."""
    notes = alert["annotations"]
    if runbook_base and notes.get("runbook_url", "").startswith(RUNBOOK_BASE + "/"):
        notes["runbook_url"] = runbook_base + notes["runbook_url"].removeprefix(RUNBOOK_BASE)
    if dashboard_url and "dashboard_url" in notes:
        notes["dashboard_url"] = dashboard_url
    return alert


def _headers(cfg: RemediatorConfig) -> dict[str, str]:
    am = cfg.remediator.alertmanager
    headers = {"Content-Type": "application/json"}
    if am is None:
        return headers
    if am.bearer_token is not None:
        token = cfg.secret("remediator.alertmanager.bearer_token")
        headers["Authorization"] = f"Bearer {token.get() if token else ''}"
    elif am.basic_auth is not None:
        password = cfg.secret("remediator.alertmanager.basic_auth.password")
        pair = f"{am.basic_auth.username}:{password.get() if password else ''}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    return headers


async def _post_one(
    session: aiohttp.ClientSession, url: str, body: list[dict[str, Any]], headers: dict[str, str]
) -> ActuationError | None:
    """None when Alertmanager took the alerts, else the error (never raised here)."""
    where = f"Alertmanager {url}"
    try:
        async with session.post(f"{url}/api/v2/alerts", json=body, headers=headers) as resp:
            if resp.status == 200:
                return None
            text = " ".join((await resp.text(errors="replace")).split())[:_SNIPPET]
            status = resp.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        return ActuationError(
            f"{where}: {type(exc).__name__}: {exc}".rstrip(": "), retryable=True, code="network"
        )
    message = f"{where}: HTTP {status} {text}".strip()
    if status >= 500 or status == 429:
        return ActuationError(message, retryable=True, code=str(status))
    # 400 (an alert Alertmanager refuses: a bug here), 401/403 (the credentials): a person fixes
    return ActuationError(message, escalate=True, code=str(status))


async def post(*, cfg: RemediatorConfig, alerts: Sequence[PostableAlert]) -> None:
    """Post `alerts` to every configured Alertmanager (an HA pair deduplicates). Done when at
    least one took them; otherwise raises the first error (retryable for 5xx and the network)."""
    am = cfg.remediator.alertmanager
    if am is None:
        raise ActuationError(
            "remediator.alertmanager is not configured: the remediator cannot reach a person",
            escalate=True,
            code="unconfigured",
        )
    if not alerts:
        return
    body = [_localized(a.to_json(), am.runbook_base, am.dashboard_url) for a in alerts]
    headers = _headers(cfg)
    timeout = aiohttp.ClientTimeout(total=am.timeout)
    errors: list[ActuationError] = []
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for url in am.urls:
            error = await _post_one(session, url, body, headers)
            if error is None:
                log.info("posted %d alert(s) to %s", len(body), url)
            else:
                log.warning("%s", error)
                errors.append(error)
    if len(errors) == len(am.urls):
        first = errors[0]
        if len(errors) > 1:
            rest = "; ".join(str(e) for e in errors[1:])
            raise ActuationError(
                f"{first}; {rest}",
                retryable=any(e.retryable for e in errors),
                escalate=all(e.escalate for e in errors),
                code=first.code,
            )
        raise first


# -- silences (API v2): a planned replay's expected alerts, scoped to its own consumer group -----


async def _first_answer(
    cfg: RemediatorConfig, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    """The first configured Alertmanager that answers (an HA pair gossips silences)."""
    am = cfg.remediator.alertmanager
    if am is None:
        raise ActuationError(
            "remediator.alertmanager is not configured: silences cannot be managed",
            escalate=True,
            code="unconfigured",
        )
    errors = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=am.timeout)) as session:
        for url in am.urls:
            try:
                async with session.request(
                    method, f"{url}{path}", json=body, headers=_headers(cfg)
                ) as resp:
                    text = await resp.text(errors="replace")
                    if resp.status >= 500:
                        errors.append(f"{url}: HTTP {resp.status} {text[:_SNIPPET]}")
                        continue
                    data: Any = None
                    if text.strip().startswith(("{", "[")):
                        data = json.loads(text)
                    return resp.status, data if data is not None else text[:_SNIPPET]
            except (TimeoutError, aiohttp.ClientError) as exc:
                errors.append(f"{url}: {type(exc).__name__}: {exc}")
    raise ActuationError(
        f"Alertmanager {path}: {'; '.join(errors)}", retryable=True, code="network"
    )


async def create_silence(
    *,
    cfg: RemediatorConfig,
    matchers: Mapping[str, str],
    ends_at: datetime,
    created_by: str,
    comment: str,
) -> str:
    """`POST /api/v2/silences` with equality matchers; the silence's id."""
    body = {
        "matchers": [
            {"name": k, "value": v, "isRegex": False, "isEqual": True}
            for k, v in sorted(matchers.items())
        ],
        "startsAt": _iso(datetime.now(UTC)),
        "endsAt": _iso(ends_at),
        "createdBy": created_by,
        "comment": comment,
    }
    status, data = await _first_answer(cfg, "POST", "/api/v2/silences", body)
    if status != 200 or not isinstance(data, dict) or "silenceID" not in data:
        raise ActuationError(f"Alertmanager refused the silence: HTTP {status} {data}",
                             escalate=True, code=str(status))  # fmt: skip
    return str(data["silenceID"])


async def expire_silence(*, cfg: RemediatorConfig, silence_id: str) -> None:
    """`DELETE /api/v2/silence/{id}`; a silence already expired or gone counts as done."""
    status, data = await _first_answer(cfg, "DELETE", f"/api/v2/silence/{silence_id}")
    if status in (200, 404) or (status == 500 and "expired" in str(data)):
        return
    raise ActuationError(f"Alertmanager did not expire silence {silence_id}: HTTP {status} {data}",
                         retryable=status >= 500, code=str(status))  # fmt: skip


async def silence_state(*, cfg: RemediatorConfig, silence_id: str) -> str | None:
    """The silence's status.state (active, pending, expired), None when Alertmanager lost it."""
    status, data = await _first_answer(cfg, "GET", f"/api/v2/silence/{silence_id}")
    if status == 404:
        return None
    if status != 200 or not isinstance(data, dict):
        raise ActuationError(f"Alertmanager silence {silence_id}: HTTP {status} {data}",
                             retryable=True, code=str(status))  # fmt: skip
    return str((data.get("status") or {}).get("state"))
