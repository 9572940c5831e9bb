"""The CLI's side of the API: one HTTP call per command, and the incident timeline as Markdown."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

OK, REFUSED = 0, 1


class Unreachable(Exception):
    """No HTTP answer from the server (refused, timed out, DNS)."""


def request(
    url: str, method: str, path: str, *, token: str | None, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url.rstrip("/") + path, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"null")
        except ValueError:
            return exc.code, {"error": exc.reason}
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unreachable(str(reason)) from None


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def markdown(run: dict[str, Any]) -> str:
    """The run as an incident timeline, ready to paste into a ticket."""
    lines = [
        f"## Remediation run {run['id']}",
        "",
        f"- procedure: {run['procedure']} on {run['target']} ({run['mode']} mode)",
        f"- state: {run['state']}; outcome: {run['outcome'] or 'open'}",
        f"- reason: {run['reason'] or '-'}",
        "",
        "| time | event |",
        "|---|---|",
    ]
    events: list[tuple[float, str]] = [(run["created_at"], "run started")]
    for a in run["alerts"]:
        events.append((a["first_seen"], f"alert {a['alertname']} {a['fingerprint']} joined"))
        if a["status"] == "resolved":
            events.append((a["last_seen"], f"alert {a['alertname']} {a['fingerprint']} resolved"))
    for d in run["decisions"]:
        events.append((d["at"], f"{d['gate']}: {d['verdict']} - {d['reason']}"))
    for a in run.get("audit", []):
        events.append((a["at"], f"{a['who']}: {a['action']} - {a['detail']}"))
    for s in run.get("steps", []):
        if s["started_at"] is not None:
            events.append((s["started_at"], f"step {s['index']} {s['name']} started"))
        if s["ended_at"] is not None:
            events.append(
                (s["ended_at"], f"step {s['index']} {s['name']} {s['status']}: {s['detail']}")
            )
    for a in run.get("approvals", []):
        events.append((a["requested_at"], f"approval requested for step {a['step']}"))
        if a["decided_at"] is not None:
            events.append(
                (a["decided_at"], f"approval {a['verdict']} by {a['decided_by']}: {a['reason']}")
            )
    if run["ended_at"] is not None:
        events.append((run["ended_at"], f"run ended: {run['outcome']}"))
    for at, text in sorted(events, key=lambda e: e[0]):
        lines.append(f"| {_when(at)} | {text.replace('|', '/')} |")
    plan = (run.get("plan") or {}).get("plan")
    if plan:
        lines += ["", f"### Plan ({plan['shape']})", ""]
        for i, step in enumerate(plan["steps"], 1):
            approval = " (needs approval)" if step["needs_approval"] else ""
            lines.append(f"{i}. `{step['name']}` [{step['kind']}]{approval}: {step['why']}")
        for key in ("refused", "escalate"):
            if plan.get(key):
                lines.append(f"- {key}: {plan[key]}")
    evidence = [(s, k, v) for s in run.get("steps", []) for k, v in s["evidence"].items()]
    if evidence:
        lines += ["", "### Evidence", ""]
        for s, key, value in evidence:
            if "\n" in value:
                lines += [f"- step {s['index']} `{s['name']}` {key}:", "", "```", value, "```"]
            else:
                lines.append(f"- step {s['index']} `{s['name']}` {key}: {value}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, *, url: str, token: str | None) -> int:
    command = args.command
    if command == "status":
        status, data = request(url, "GET", "/status", token=token)
    elif command == "runs":
        status, data = request(
            url, "GET", "/runs" + ("?open=true" if args.open else ""), token=token
        )
    elif command == "show":
        status, data = request(url, "GET", f"/runs/{quote(args.run, safe='')}", token=token)
        if status == 200 and args.markdown:
            print(markdown(data), end="")
            return OK
    elif command in ("cancel", "approve", "deny"):
        status, data = request(
            url,
            "POST",
            f"/runs/{quote(args.run, safe='')}/{command}",
            token=token,
            body={"reason": args.reason},
        )
    elif command == "trading":
        body = {"reason": args.reason, "signals_known_good": args.signals_known_good}
        status, data = request(url, "POST", f"/trading/{args.action}", token=token, body=body)
    elif command == "replay" and args.replay_action == "plan":
        body = {"from": args.start, "to": args.end, "reason": args.reason,
                "signals_known_good": args.signals_known_good}  # fmt: skip
        if args.group_id:
            body["group_id"] = args.group_id
        status, data = request(url, "POST", "/replay/plan", token=token, body=body)
    elif command == "replay":
        path = f"/replay/{quote(args.plan_id, safe='')}/start"
        status, data = request(url, "POST", path, token=token, body={})
    elif command == "rollback":
        path = f"/runs/{quote(args.run, safe='')}/rollback"
        status, data = request(url, "POST", path, token=token, body={"reason": args.reason})
    elif command == "image":
        body = {"to": args.to, "reason": args.reason}
        status, data = request(url, "POST", "/image/rollback", token=token, body=body)
    elif command in ("pause", "resume"):
        status, data = request(
            url, "POST", f"/{command}", token=token, body={"reason": args.reason}
        )
    else:  # pragma: no cover - argparse only lets the commands above through
        raise ValueError(command)
    if status >= 400:
        message = data.get("error") if isinstance(data, dict) else data
        print(f"refused ({status}): {message}", file=sys.stderr)
        return REFUSED
    print(json.dumps(data, indent=2, sort_keys=True))
    return OK
