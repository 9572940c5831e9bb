"""The stack's GitHub stand-in and ClickHouse identities: a pull request merged through githubkit
reaches the git remote Argo CD watches; status names every identity by user and file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest
from githubkit import GitHub, TokenAuthStrategy
from kubernetes_asyncio import client, config

from sandbox.gitops import APP_PATH, git
from sandbox.util import apoll_until

pytestmark = pytest.mark.slow

APP = ("argoproj.io", "v1alpha1", "argocd", "applications", "torghut-ta")


def sandbox_stack_token(status: dict[str, Any]) -> str:
    return Path(status["github_token_file"]).read_text().strip()


def _status(stack: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "status", "--dir", stack["dir"], "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_status_names_clickhouse_identities_and_github(sandbox_stack: dict[str, Any]) -> None:
    status = _status(sandbox_stack)
    assert status["up"]["github"]
    assert status["github_api"].startswith("http://127.0.0.1:")
    assert Path(status["github_token_file"]).is_file()
    users = {
        status[f"clickhouse{r}_user"]: status[f"clickhouse{r}_password_file"]
        for r in ("", "_ops", "_remediator")
    }
    assert set(users) == {"torghut", "torghut_ops", "torghut_remediator"}
    host, _, port = status["clickhouse_http"].removeprefix("http://").rpartition(":")
    for user, password_file in users.items():
        ch = clickhouse_connect.get_client(
            host=host, port=int(port), username=user, password=Path(password_file).read_text()
        )
        try:
            assert ch.query("SELECT 1").result_rows == [(1,)]  # each logs in with its file
        finally:
            ch.close()
    exporter_cfg = Path(sandbox_stack["dir"], "exporter.yaml").read_text()
    assert "user: torghut_ops" in exporter_cfg


def _push_feature_branch(remote: str, clone: Path) -> None:
    subprocess.run(["git", "clone", "-q", remote, str(clone)], check=True)
    git(clone, "config", "user.name", "remediator")
    git(clone, "config", "user.email", "remediator@torghut.invalid")
    git(clone, "checkout", "-q", "-b", "docs/stack-test")
    readme = clone / APP_PATH / "README.md"
    readme.write_text(readme.read_text() + "\n<!-- touched by test_stack_github -->\n")
    git(clone, "commit", "-q", "-am", "docs: a harmless change")
    git(clone, "push", "-q", "origin", "HEAD:refs/heads/docs/stack-test")


async def test_merged_pull_request_reaches_the_remote_argocd_watches(
    sandbox_stack: dict[str, Any], tmp_path: Path
) -> None:
    status = _status(sandbox_stack)
    remote = status["git_remote"]
    _push_feature_branch(remote, tmp_path / "clone")
    token = sandbox_stack_token(status)
    async with GitHub(TokenAuthStrategy(token), base_url=status["github_api"]) as gh:
        pr = await gh.rest.pulls.async_create(
            "torghut", "gitops", title="docs", head="docs/stack-test", base="main"
        )
        merged = await gh.rest.pulls.async_merge("torghut", "gitops", pr.parsed_data.number)
    sha = merged.parsed_data.sha
    assert git(Path(remote), "rev-parse", "main") == sha

    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=status["kubeconfig"], client_configuration=configuration
    )
    async with client.ApiClient(configuration=configuration) as api:
        custom = client.CustomObjectsApi(api)

        async def seen() -> bool:
            app = await custom.get_namespaced_custom_object(*APP)
            return app.get("status", {}).get("sync", {}).get("revision") == sha

        await apoll_until(seen, timeout=60, interval=0.5, what="Argo CD sees the merge")
