"""The `remediator.gitops` and `remediator.argocd` config sections: defaults, the clone beside
the journal, and errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from remediator_kit import remediator_data

from remediator.config import ConfigError, parse_remediator_config


def sections(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    (tmp_path / "gh-token").write_text("ghp_x")
    (tmp_path / "argo-token").write_text("argo_x")
    gitops: dict[str, Any] = {
        "remote_url": "https://github.com/torghut/gitops.git",
        "github": {"repo": "torghut/gitops", "token": {"file": str(tmp_path / "gh-token")}},
    }
    argocd: dict[str, Any] = {
        "api_url": "https://argocd.example.com",
        "token": {"file": str(tmp_path / "argo-token")},
    }
    gitops.update(overrides.pop("gitops", {}))
    argocd.update(overrides.pop("argocd", {}))
    return remediator_data(tmp_path, gitops=gitops, argocd=argocd)


def test_defaults_and_the_clone_beside_the_journal(tmp_path: Path) -> None:
    cfg = parse_remediator_config(sections(tmp_path))
    gitops, argocd = cfg.remediator.gitops, cfg.remediator.argocd
    assert gitops is not None and argocd is not None
    assert gitops.work_dir == tmp_path / "gitops"  # the journal is tmp_path/journal.sqlite3
    assert (gitops.branch, gitops.app_path) == ("main", "argocd/applications/torghut")
    assert (gitops.direct_push, gitops.push_retries) == (False, 3)
    assert (gitops.github.api_url, gitops.github.owner, gitops.github.name) == (
        "https://api.github.com", "torghut", "gitops",
    )  # fmt: skip
    assert (argocd.app, argocd.sync_timeout, argocd.busy_timeout) == ("torghut-ta", 600.0, 300.0)
    assert cfg.secret("remediator.gitops.github.token").get() == "ghp_x"  # type: ignore[union-attr]


def test_both_sections_are_optional(tmp_path: Path) -> None:
    cfg = parse_remediator_config(remediator_data(tmp_path))
    assert cfg.remediator.gitops is None and cfg.remediator.argocd is None


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"gitops": {"remote_url": "https://me:pw@github.com/x/y.git"}},
         "remediator.gitops.remote_url: URL must not carry credentials"),
        ({"gitops": {"github": {"repo": "gitops", "token": {"env": "NOPE_UNSET_VAR"}}}},
         'remediator.gitops.github.repo: expected "owner/name"'),
        ({"gitops": {"app_path": "../etc"}},
         "remediator.gitops.app_path: must be a path inside the repository"),
        ({"gitops": {"branch": "main..x"}}, "remediator.gitops.branch: not a valid branch name"),
        ({"gitops": {"push_retries": 99}}, "remediator.gitops.push_retries: Input should be"),
        ({"gitops": {"direct_push_option": {"env": "HOME"}}},
         "remediator.gitops: direct_push_option is unused while direct_push is false"),
        ({"gitops": {"merge_timeout": "soon"}},
         "remediator.gitops.merge_timeout: expected a duration"),
        ({"argocd": {"app": "Torghut_TA"}}, "remediator.argocd.app: not a valid Application name"),
        ({"argocd": {"api_url": "argocd:443"}}, "remediator.argocd.api_url: URL must start with"),
        ({"argocd": {"verify_tls": False, "ca_file": "/etc/hosts"}},
         "remediator.argocd: ca_file is unused when verify_tls is false"),
        ({"argocd": {"token": {"file": "/nonexistent/argo"}}},
         "remediator.argocd.token: cannot read secret file /nonexistent/argo"),
    ],
)  # fmt: skip
def test_errors_name_the_key(tmp_path: Path, overrides: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_remediator_config(sections(tmp_path, **overrides))
    assert expected in str(err.value)
