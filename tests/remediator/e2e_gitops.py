"""The remediator's end-to-end tests on a whole sandbox stack: the GitOps side, the git
remote's history (the commits of a run) and the GitHub stand-in, as a person reviewing the
remediator's pull requests."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

APP_PATH = "argocd/applications/torghut"
GITHUB_REPO = "torghut/gitops"


def git(stack: dict[str, Any], *args: str) -> str:
    out = subprocess.run(
        ["git", "--git-dir", stack["git_remote"], *args],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return out.stdout


def run_commits(stack: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
    """The non-merge commits on main that carry `run_id`, oldest first: step, files, and the
    changed lines (-/+ without the diff headers)."""
    shas = git(stack, "log", "--no-merges", "--reverse", "--format=%H", "main").split()
    commits = []
    for sha in shas:
        message = git(stack, "show", "-s", "--format=%B", sha)
        if f"Remediator-Run: {run_id}" not in message:
            continue
        step = message.split("Remediator-Step: ", 1)[1].split()[0]
        files = git(stack, "show", "--format=", "--name-only", sha).split()
        patch = git(stack, "show", "--format=", "-U0", sha).splitlines()
        lines = [
            ln for ln in patch
            if ln[:1] in "+-" and not ln.startswith(("+++", "---"))
        ]  # fmt: skip
        commits.append({"sha": sha, "step": step, "files": files, "lines": lines})
    return commits


def file_at_main(stack: dict[str, Any], name: str) -> str:
    return git(stack, "show", f"main:{APP_PATH}/{name}")


def github(stack: dict[str, Any], method: str, path: str, body: object = None) -> Any:
    token = Path(stack["github_token_file"]).read_text().strip()
    req = urllib.request.Request(
        f"{stack['github_api']}/repos/{GITHUB_REPO}{path}",
        data=None if body is None else json.dumps(body).encode(), method=method,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def open_pulls(stack: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
    pulls: list[dict[str, Any]] = github(stack, "GET", "/pulls?state=open&per_page=100")
    return [p for p in pulls if p["head"]["ref"].startswith(f"remediator/{run_id}/")]


def merge(stack: dict[str, Any], pull: dict[str, Any]) -> str:
    """Merge the pull request as its reviewer: the merge commit's sha."""
    merged = github(
        stack, "PUT", f"/pulls/{pull['number']}/merge",
        {"sha": pull["head"]["sha"], "merge_method": "merge"},
    )  # fmt: skip
    assert merged["merged"] is True, merged
    return str(merged["sha"])
