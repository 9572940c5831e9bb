"""pytest fixtures for the GitHub REST stand-in (`sandbox.github`).

- `github_sandbox` (function): a fresh GitOps repo (`sandbox.gitops`, branch-protected) served
  as `torghut/gitops` by its own stand-in process; yields a `GitHubSandbox` with `url`, `token`
  (write), `read_token`, `admin_token`, `repo` (the GitRepo), `full_name`,
  `push_branch(name, relpath, append)` (a feature branch pushed with the git CLI, as the
  remediator will), `admin(method, path, body)` (the sandbox's own hooks: approve, merge as a
  person, settings incl. the rate limit) and `request(method, path, ...)` for raw calls.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbox.github import launch
from sandbox.gitops import GitRepo, create_repo, git
from sandbox.util import Service

FULL_NAME = "torghut/gitops"


@dataclass
class GitHubSandbox:
    service: Service
    repo: GitRepo
    workdir: Path
    full_name: str = FULL_NAME

    @property
    def url(self) -> str:
        return self.service.endpoints["github_api"]

    def _read(self, key: str) -> str:
        return Path(self.service.endpoints[key]).read_text().strip()

    @property
    def token(self) -> str:
        return self._read("github_token_file")

    @property
    def read_token(self) -> str:
        return self._read("github_read_token_file")

    @property
    def admin_token(self) -> str:
        return self._read("github_admin_token_file")

    def request(
        self, method: str, path: str, body: Any = None, *, token: str | None = "",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:  # fmt: skip
        """A raw call; token "" = the write token, None = no Authorization header."""
        token = self.token if token == "" else token
        all_headers = {"Accept": "application/vnd.github+json", **(headers or {})}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, dict(resp.headers), json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, dict(exc.headers), json.loads(raw) if raw else None

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        status, _, data = self.request(method, "/_sandbox" + path, body, token=self.admin_token)
        if status >= 300:
            raise RuntimeError(f"admin {method} {path}: {status} {data}")
        return data

    def push_branch(self, name: str, relpath: str, append: str, *, base: str = "main") -> str:
        """Clone the remote, branch off `base`, append a line to `relpath`, push; the sha."""
        clone = self.workdir / f"clone-{name.replace('/', '-')}"
        if not clone.exists():
            subprocess.run(["git", "clone", "-q", str(self.repo.remote), str(clone)], check=True)
            git(clone, "config", "user.name", "remediator")
            git(clone, "config", "user.email", "remediator@torghut.invalid")
        git(clone, "fetch", "-q", "origin")
        git(clone, "checkout", "-q", "-B", name, f"origin/{base}")
        path = clone / relpath
        path.write_text(path.read_text() + append)
        git(clone, "commit", "-q", "-am", f"{name}: {append.strip()}")
        git(clone, "push", "-q", "--force", "origin", f"HEAD:refs/heads/{name}")
        return git(clone, "rev-parse", "HEAD")


def start_github(workdir: Path, **options: Any) -> GitHubSandbox:
    repo = create_repo(workdir / "git")
    service = launch(workdir / "github", repos={FULL_NAME: repo.remote}, **options)
    return GitHubSandbox(service=service, repo=repo, workdir=workdir)


@pytest.fixture
def github_sandbox(tmp_path: Path) -> Iterator[GitHubSandbox]:
    gh = start_github(tmp_path)
    try:
        yield gh
    finally:
        gh.service.stop()
