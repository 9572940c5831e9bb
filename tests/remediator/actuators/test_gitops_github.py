"""The GitHub wrapper against the REST stand-in: GitHub's refusals become the actuator
contract's errors (retry a spent rate limit, call a person for 401/403/404/422), the rate-limit
message says when it resets, and the token never appears in a message."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from exporter.config_refs import SecretRef
from remediator.actuators import ActuationError, github
from remediator.config_gitops import GitHubConfig
from sandbox.gitops import APP_PATH
from sandbox.testing.github import FULL_NAME, GitHubSandbox

pytestmark = pytest.mark.slow

CM = f"{APP_PATH}/ta/configmap.yaml"


def cfg_with(gh: GitHubSandbox, tmp_path: Path, token: str, **extra: Any) -> GitHubConfig:
    path = tmp_path / f"token-{abs(hash(token))}"
    path.write_text(token + "\n")
    return GitHubConfig(api_url=gh.url, repo=extra.pop("repo", FULL_NAME),
                        token=SecretRef(file=path), **extra)  # fmt: skip


async def test_create_find_get_merge(github_sandbox: GitHubSandbox, tmp_path: Path) -> None:
    gh = github_sandbox
    cfg = cfg_with(gh, tmp_path, gh.token)
    head = gh.push_branch("remediator/r1/s1", CM, "# r1\n")
    assert await github.find_pull(cfg=cfg, head="remediator/r1/s1", base="main") is None
    pr = await github.create_pull(cfg=cfg, head="remediator/r1/s1", base="main", title="t",
                                  body="b")  # fmt: skip
    assert (pr.number, pr.state, pr.merged, pr.head_sha) == (1, "open", False, head)
    assert await github.find_pull(cfg=cfg, head="remediator/r1/s1", base="main") == pr
    with pytest.raises(ActuationError) as dup:
        await github.create_pull(cfg=cfg, head="remediator/r1/s1", base="main", title="t",
                                 body="b")  # fmt: skip
    assert dup.value.code == "422" and dup.value.escalate
    assert "A pull request already exists for torghut:remediator/r1/s1" in str(dup.value)
    sha = await github.merge_pull(cfg=cfg, number=1, sha=head)
    assert sha == gh.repo.remote_head()
    got = await github.get_pull(cfg=cfg, number=1)
    assert (got.state, got.merged, got.merge_commit_sha) == ("closed", True, sha)
    with pytest.raises(ActuationError) as moved:  # merged already: GitHub answers 405
        await github.merge_pull(cfg=cfg, number=1, sha="0" * 40)
    assert moved.value.code == "405" and not moved.value.retryable


async def test_bad_token_is_401_escalated_without_the_token(
    github_sandbox: GitHubSandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = cfg_with(github_sandbox, tmp_path, "ghp_wrongTOKEN987654321")
    with pytest.raises(ActuationError) as err:
        await github.get_pull(cfg=cfg, number=1)
    assert err.value.code == "401" and err.value.escalate and not err.value.retryable
    assert "Bad credentials" in str(err.value) and "ghp_wrongTOKEN" not in str(err.value)
    assert "remediator.gitops.github.token" in str(err.value)
    assert caplog.records and "ghp_wrongTOKEN" not in caplog.text  # httpx logs each request


async def test_read_only_token_and_unknown_repo(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    gh = github_sandbox
    gh.push_branch("remediator/r2/s", CM, "# r2\n")
    reader = cfg_with(gh, tmp_path, gh.read_token)
    with pytest.raises(ActuationError) as forbidden:
        await github.create_pull(cfg=reader, head="remediator/r2/s", base="main", title="t",
                                 body="b")  # fmt: skip
    assert forbidden.value.code == "403" and forbidden.value.escalate
    assert "Resource not accessible by personal access token" in str(forbidden.value)
    other = cfg_with(gh, tmp_path, gh.token, repo="torghut/nope")
    with pytest.raises(ActuationError) as missing:
        await github.get_pull(cfg=other, number=1)
    assert missing.value.code == "404" and missing.value.escalate


@pytest.mark.parametrize("status", [403, 429])
async def test_spent_rate_limit_is_retryable_and_says_when_it_resets(
    github_sandbox: GitHubSandbox, tmp_path: Path, status: int
) -> None:
    gh = github_sandbox
    cfg = cfg_with(gh, tmp_path, gh.token)
    gh.admin(
        "PUT", "/settings",
        {"rate_limit": {"remaining": 0, "reset_in": 120, "primary_status": status}},
    )  # fmt: skip
    with pytest.raises(ActuationError) as err:
        await github.find_pull(cfg=cfg, head="x", base="main")
    assert err.value.retryable and not err.value.escalate and err.value.code == "rate-limit"
    assert f"primary rate limit exhausted ({status}); resets at " in str(err.value)
    assert gh.token not in str(err.value)


async def test_secondary_rate_limit_says_retry_after(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    gh = github_sandbox
    gh.admin("PUT", "/settings", {"rate_limit": {"secondary_count": 1, "retry_after": 42}})
    with pytest.raises(ActuationError) as err:
        await github.get_pull(cfg=cfg_with(gh, tmp_path, gh.token), number=1)
    assert err.value.retryable and "secondary rate limit" in str(err.value)
    assert "retry after 42 s" in str(err.value)


async def test_unreadable_token_file_escalates_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("x")
    cfg = GitHubConfig(api_url="http://127.0.0.1:9", repo=FULL_NAME, token=SecretRef(file=path))
    path.unlink()  # rotated away after load
    with pytest.raises(ActuationError) as err:
        await github.get_pull(cfg=cfg, number=1)
    assert err.value.escalate and err.value.code == "secret"
    assert "remediator.gitops.github.token" in str(err.value)


async def test_unreachable_api_is_retryable(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("ghp_unreachable")
    cfg = GitHubConfig(api_url="http://127.0.0.1:9", repo=FULL_NAME, token=SecretRef(file=path))
    with pytest.raises(ActuationError) as err:
        await github.get_pull(cfg=cfg, number=1)
    assert err.value.retryable and err.value.code == "unreachable"
    assert "ghp_unreachable" not in str(err.value)
