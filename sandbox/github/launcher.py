"""`launch(workdir, repos=...)`: start the GitHub REST stand-in as a background process."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from sandbox.util import Service, free_port, python_module_args, spawn, wait_started

LOGIN = "torghut-remediator"


def _write_secret(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(f"{url}/repos/-/-/pulls", timeout=1)
    except urllib.error.HTTPError:
        return True  # 404 Not Found: the server answers
    return True


def launch(
    workdir: Path,
    *,
    repos: dict[str, Path],
    port: int | None = None,
    rate_limit: int = 5000,
    primary_status: int = 403,
    required_approvals: int = 0,
    on_spawned: Callable[[Service], None] | None = None,
    timeout: float = 60.0,
) -> Service:
    """Serve pull requests for `repos` ({"owner/name": bare repo path}) on 127.0.0.1.

    Writes `workdir/github-token` (a write token for login `torghut-remediator`),
    `workdir/github-read-token` (read only) and `workdir/github-admin-token` (the sandbox's own
    hooks under `/_sandbox/`). `on_spawned(service)` runs before the wait, so a caller can record
    the process first. Endpoints: `github_api` (base URL), `github_token_file`,
    `github_read_token_file`, `github_admin_token_file`.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    token_file = _write_secret(workdir / "github-token", secrets.token_urlsafe(24))
    read_file = _write_secret(workdir / "github-read-token", secrets.token_urlsafe(24))
    admin_file = _write_secret(workdir / "github-admin-token", secrets.token_urlsafe(24))
    tokens = {
        token_file.read_text(): {"login": LOGIN, "permission": "write"},
        read_file.read_text(): {"login": "torghut-exporter", "permission": "read"},
    }
    tokens_file = _write_secret(workdir / "tokens.json", json.dumps(tokens))
    port = port or free_port()
    args = ["--port", str(port), "--tokens-file", str(tokens_file)]
    args += ["--admin-token-file", str(admin_file), "--rate-limit", str(rate_limit)]
    args += ["--primary-status", str(primary_status)]
    args += ["--required-approvals", str(required_approvals)]
    for name, path in repos.items():
        args += ["--repo", f"{name}={Path(path).resolve()}"]
    log = workdir / "github.log"
    proc = spawn(python_module_args("sandbox.github", *args), log_path=log)
    url = f"http://127.0.0.1:{port}"
    service = Service(
        "github", proc.pid,
        {"github_api": url, "github_token_file": str(token_file),
         "github_read_token_file": str(read_file), "github_admin_token_file": str(admin_file)},
        str(log),
    )  # fmt: skip
    if on_spawned is not None:
        on_spawned(service)
    wait_started(proc.pid, lambda: _answers(url), log=log, what="github stand-in", timeout=timeout)
    return service
