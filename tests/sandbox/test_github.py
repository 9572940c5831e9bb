"""The GitHub REST stand-in through githubkit (a real GitHub client, unchanged but for its base
URL) and raw HTTP for the exact bodies: pull requests that really merge into the git remote."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from githubkit import GitHub, TokenAuthStrategy
from githubkit.exception import (
    PrimaryRateLimitExceeded,
    RequestFailed,
    SecondaryRateLimitExceeded,
)

from sandbox.github import launch
from sandbox.gitops import APP_PATH, git
from sandbox.testing.github import GitHubSandbox
from sandbox.util import ExitedError, Service, apoll_until, pid_alive

pytestmark = pytest.mark.slow

CM = f"{APP_PATH}/ta/configmap.yaml"
OWNER, NAME = "torghut", "gitops"


@pytest.fixture
async def client(github_sandbox: GitHubSandbox) -> AsyncIterator[GitHub[Any]]:
    async with GitHub(
        TokenAuthStrategy(github_sandbox.token), base_url=github_sandbox.url, auto_retry=False
    ) as gh:
        yield gh


async def _computed(client: GitHub[Any], number: int) -> Any:
    async def check() -> Any:
        pr = (await client.rest.pulls.async_get(OWNER, NAME, number)).parsed_data
        return pr if pr.mergeable is not None else None

    return await apoll_until(check, timeout=60, interval=0.1, what="mergeable computed")


async def test_create_get_list_merge_with_githubkit(
    github_sandbox: GitHubSandbox, client: GitHub[Any]
) -> None:
    gh = github_sandbox
    head = gh.push_branch("remediate/replay", CM, "# replay window checked\n")
    created = await client.rest.pulls.async_create(
        OWNER, NAME, title="ta: replay", head="remediate/replay", base="main", body="why"
    )
    pr = created.parsed_data
    assert created.status_code == 201 and created.headers["location"] == pr.url
    assert (pr.number, pr.state, pr.merged, pr.mergeable) == (1, "open", False, None)
    assert (pr.head.ref, pr.head.sha, pr.base.ref) == ("remediate/replay", head, "main")
    assert pr.html_url == f"{gh.url}/{OWNER}/{NAME}/pull/1"
    assert int(created.headers["x-ratelimit-used"]) >= 1
    # the first read starts the computation and still says null, as GitHub does
    first = (await client.rest.pulls.async_get(OWNER, NAME, 1)).parsed_data
    assert first.mergeable is None and first.mergeable_state == "unknown"
    done = await _computed(client, 1)
    assert (done.mergeable, done.mergeable_state, done.commits) == (True, "clean", 1)

    listed = await client.rest.pulls.async_list(
        OWNER, NAME, state="open", head="torghut:remediate/replay"
    )
    assert [p.number for p in listed.parsed_data] == [1]
    other = await client.rest.pulls.async_list(OWNER, NAME, state="open", head="torghut:nope")
    assert other.parsed_data == []
    with pytest.raises(RequestFailed) as err:
        await client.rest.pulls.async_check_if_merged(OWNER, NAME, 1)
    assert err.value.response.status_code == 404

    result = (await client.rest.pulls.async_merge(OWNER, NAME, 1, sha=head)).parsed_data
    assert result.merged and result.message == "Pull Request successfully merged"
    remote = gh.repo.remote
    assert git(remote, "rev-parse", "main") == result.sha
    parents = git(remote, "rev-list", "--parents", "-n", "1", result.sha).split()[1:]
    assert len(parents) == 2 and parents[1] == head
    assert "# replay window checked" in git(remote, "show", f"main:{CM}")
    subject = git(remote, "log", "-1", "--format=%s", "main")
    assert subject == "Merge pull request #1 from torghut/remediate/replay"
    merged = await client.rest.pulls.async_check_if_merged(OWNER, NAME, 1)
    assert merged.status_code == 204
    final = (await client.rest.pulls.async_get(OWNER, NAME, 1)).parsed_data
    assert (final.state, final.merged) == ("closed", True)
    raw = gh.request("GET", f"/repos/{OWNER}/{NAME}/pulls/1")[2]  # not in githubkit's 2026 model
    assert raw["merge_commit_sha"] == result.sha
    assert final.merged_by is not None and final.merged_by.login == "torghut-remediator"
    closed = await client.rest.pulls.async_list(OWNER, NAME, state="closed")
    assert [p.number for p in closed.parsed_data] == [1]


async def test_duplicate_head_gets_githubs_422(
    github_sandbox: GitHubSandbox, client: GitHub[Any]
) -> None:
    gh = github_sandbox
    gh.push_branch("remediate/a", CM, "# a\n")
    await client.rest.pulls.async_create(OWNER, NAME, title="a", head="remediate/a", base="main")
    status, _, body = gh.request(
        "POST", f"/repos/{OWNER}/{NAME}/pulls",
        {"title": "again", "head": "remediate/a", "base": "main"},
    )  # fmt: skip
    assert status == 422
    assert body == {
        "message": "Validation Failed",
        "errors": [
            {
                "resource": "PullRequest",
                "code": "custom",
                "message": "A pull request already exists for torghut:remediate/a.",
            }
        ],
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
        "status": "422",
    }
    with pytest.raises(RequestFailed) as err:
        await client.rest.pulls.async_create(
            OWNER, NAME, title="a", head="torghut:remediate/a", base="main"
        )
    assert err.value.response.status_code == 422
    status, _, body = gh.request(
        "POST", f"/repos/{OWNER}/{NAME}/pulls", {"title": "x", "head": "missing", "base": "main"}
    )
    assert status == 422 and body["errors"] == [
        {"resource": "PullRequest", "field": "head", "code": "invalid"}
    ]


async def test_close_then_reopen_and_conflicts_are_not_mergeable(
    github_sandbox: GitHubSandbox, client: GitHub[Any]
) -> None:
    gh = github_sandbox
    gh.push_branch("remediate/one", CM, "# one\n")
    gh.push_branch("remediate/two", CM, "# two\n")  # the same line: conflicts after #1 merges
    for n, branch in ((1, "remediate/one"), (2, "remediate/two")):
        pr = await client.rest.pulls.async_create(
            OWNER, NAME, title=branch, head=branch, base="main"
        )
        assert pr.parsed_data.number == n
    closed = await client.rest.pulls.async_update(OWNER, NAME, 2, state="closed")
    assert closed.parsed_data.state == "closed" and closed.parsed_data.closed_at is not None
    with pytest.raises(RequestFailed) as err:
        await client.rest.pulls.async_merge(OWNER, NAME, 2)
    assert err.value.response.status_code == 405
    reopened = await client.rest.pulls.async_update(OWNER, NAME, 2, state="open")
    assert reopened.parsed_data.state == "open"

    await client.rest.pulls.async_merge(OWNER, NAME, 1, merge_method="squash")
    assert git(gh.repo.remote, "log", "-1", "--format=%s", "main") == "remediate/one (#1)"
    stale = await _computed(client, 2)
    assert (stale.mergeable, stale.mergeable_state) == (False, "dirty")
    before = gh.repo.remote_head()
    status, _, body = gh.request("PUT", f"/repos/{OWNER}/{NAME}/pulls/2/merge", {})
    assert (status, body["message"]) == (405, "Pull Request is not mergeable")
    assert gh.repo.remote_head() == before
    status, _, body = gh.request("PUT", f"/repos/{OWNER}/{NAME}/pulls/2/merge", {"sha": "0" * 40})
    assert (status, body["message"]) == (
        409, "Head branch was modified. Review and try the merge again.",
    )  # fmt: skip


async def test_auth_errors_have_githubs_bodies(github_sandbox: GitHubSandbox) -> None:
    gh = github_sandbox
    path = f"/repos/{OWNER}/{NAME}/pulls"
    status, _, body = gh.request("GET", path, token="not-a-token")
    assert (status, body) == (
        401,
        {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest",
         "status": "401"},
    )  # fmt: skip
    status, _, body = gh.request("GET", path, token=None)  # a private repo hides itself
    assert status == 404 and body["message"] == "Not Found"
    status, _, body = gh.request(
        "POST", path, {"title": "t", "head": "x", "base": "main"}, token=gh.read_token
    )
    assert status == 403
    assert body == {
        "message": "Resource not accessible by personal access token",
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
        "status": "403",
    }
    status, _, body = gh.request("GET", f"{path}/99")
    assert status == 404 and body == {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#get-a-pull-request",
        "status": "404",
    }
    status, _, _ = gh.request("GET", "/repos/torghut/other/pulls")
    assert status == 404
    async with GitHub(TokenAuthStrategy("wrong"), base_url=gh.url, auto_retry=False) as bad:
        with pytest.raises(RequestFailed) as err:
            await bad.rest.pulls.async_list(OWNER, NAME)
    assert err.value.response.status_code == 401


@pytest.mark.parametrize("status", [403, 429])
async def test_primary_rate_limit_when_the_budget_is_spent(
    github_sandbox: GitHubSandbox, client: GitHub[Any], status: int
) -> None:
    gh = github_sandbox
    gh.admin("PUT", "/settings", {"rate_limit": {"remaining": 2, "primary_status": status}})
    ok = await client.rest.pulls.async_list(OWNER, NAME)
    assert ok.headers["x-ratelimit-remaining"] == "1" and ok.headers["x-ratelimit-limit"] == "5000"
    assert ok.headers["x-ratelimit-resource"] == "core"
    await client.rest.pulls.async_list(OWNER, NAME)
    with pytest.raises(PrimaryRateLimitExceeded) as err:
        await client.rest.pulls.async_list(OWNER, NAME)
    resp = err.value.response
    assert resp.status_code == status and resp.headers["x-ratelimit-remaining"] == "0"
    assert int(resp.headers["x-ratelimit-used"]) == 5000
    body = json.loads(resp.content)
    assert body["message"].startswith("API rate limit exceeded for user ID ")
    assert body["documentation_url"].endswith("rate-limits-for-the-rest-api")
    # a new window restores the budget
    gh.admin("PUT", "/settings", {"rate_limit": {"remaining": 5000}})
    assert (await client.rest.pulls.async_list(OWNER, NAME)).status_code == 200


async def test_secondary_rate_limit_sends_retry_after(
    github_sandbox: GitHubSandbox, client: GitHub[Any]
) -> None:
    gh = github_sandbox
    gh.admin("PUT", "/settings", {"rate_limit": {"secondary_count": 1, "retry_after": 7}})
    with pytest.raises(SecondaryRateLimitExceeded) as err:
        await client.rest.pulls.async_list(OWNER, NAME)
    assert err.value.response.status_code == 403
    assert err.value.retry_after.total_seconds() == 7
    assert "secondary rate limit" in json.loads(err.value.response.content)["message"]
    assert (await client.rest.pulls.async_list(OWNER, NAME)).status_code == 200


async def test_required_approval_blocks_the_api_merge_until_a_person_approves(
    github_sandbox: GitHubSandbox, client: GitHub[Any]
) -> None:
    gh = github_sandbox
    gh.admin("PUT", "/settings", {"required_approvals": 1})
    gh.push_branch("remediate/propose", CM, "# proposed\n")
    await client.rest.pulls.async_create(
        OWNER, NAME, title="proposal", head="remediate/propose", base="main"
    )
    pending = await _computed(client, 1)
    assert pending.mergeable_state == "blocked"
    with pytest.raises(RequestFailed) as err:
        await client.rest.pulls.async_merge(OWNER, NAME, 1)
    assert err.value.response.status_code == 405
    assert "approving review is required" in json.loads(err.value.response.content)["message"]
    gh.admin("POST", f"/repos/{OWNER}/{NAME}/pulls/1/approve", {"login": "oncall"})
    approved = (await client.rest.pulls.async_get(OWNER, NAME, 1)).parsed_data
    assert approved.mergeable_state == "clean"
    assert (await client.rest.pulls.async_merge(OWNER, NAME, 1)).parsed_data.merged


async def test_a_person_merges_through_the_admin_hook(
    github_sandbox: GitHubSandbox, client: GitHub[Any]
) -> None:
    gh = github_sandbox
    gh.admin("PUT", "/settings", {"required_approvals": 1})
    head = gh.push_branch("remediate/human", CM, "# by hand\n")
    await client.rest.pulls.async_create(
        OWNER, NAME, title="h", head="remediate/human", base="main"
    )
    out = gh.admin("POST", f"/repos/{OWNER}/{NAME}/pulls/1/merge", {"login": "oncall"})
    assert out["merged"] and gh.repo.remote_head() == out["sha"]
    assert git(gh.repo.remote, "rev-parse", f"{out['sha']}^2") == head
    final = (await client.rest.pulls.async_get(OWNER, NAME, 1)).parsed_data
    assert final.merged_by is not None and final.merged_by.login == "oncall"


def test_unsupported_api_version_is_refused(github_sandbox: GitHubSandbox) -> None:
    status, _, body = github_sandbox.request(
        "GET", f"/repos/{OWNER}/{NAME}/pulls", headers={"X-GitHub-Api-Version": "2001-01-01"}
    )
    assert status == 400 and body["message"] == "API version 2001-01-01 is not supported."
    status, headers, _ = github_sandbox.request(
        "GET", f"/repos/{OWNER}/{NAME}/pulls", headers={"X-GitHub-Api-Version": "2022-11-28"}
    )
    assert status == 200 and headers["X-GitHub-Api-Version-Selected"] == "2022-11-28"


def test_launch_reports_the_process_before_waiting_on_it(tmp_path: Path) -> None:
    """A stand-in that dies while starting was already handed to `on_spawned` (the stack records
    it in the state file then), and is not left running."""
    seen: list[Service] = []
    with pytest.raises(ExitedError):
        launch(tmp_path, repos={"torghut/gitops": tmp_path / "no-such.git"}, on_spawned=seen.append)
    assert [s.name for s in seen] == ["github"]
    assert not pid_alive(seen[0].pid)


async def test_an_outage_answers_5xx_for_count_requests_then_lifts(
    github_sandbox: GitHubSandbox, client: GitHub[Any]
) -> None:
    gh = github_sandbox
    settings = gh.admin("PUT", "/settings", {"outage": {"status": 502, "count": 2}})
    assert settings["outage"] == {"status": 502, "count": 2}
    for _ in range(2):
        with pytest.raises(RequestFailed) as err:
            await client.rest.pulls.async_list(OWNER, NAME)
        assert err.value.response.status_code == 502
        assert json.loads(err.value.response.content)["message"] == "Server Error"
    assert (await client.rest.pulls.async_list(OWNER, NAME)).status_code == 200
    assert gh.admin("GET", "/settings")["outage"]["count"] == 0


def test_a_bad_outage_setting_names_the_problem(github_sandbox: GitHubSandbox) -> None:
    for body, words in (
        ({"status": 418, "count": 1}, "outage status must be one of"),
        ({"status": 503, "count": -1}, "outage count must not be negative"),
        ({"code": 503}, "outage must be"),
    ):
        with pytest.raises(RuntimeError, match="admin PUT /settings: 422") as err:
            github_sandbox.admin("PUT", "/settings", {"outage": body})
        assert words in str(err.value), (body, err.value)
