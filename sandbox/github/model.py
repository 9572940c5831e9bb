"""Pull requests as the GitHub REST API renders them (the fields githubkit's `PullRequest` and
`PullRequestSimple` models require, with GitHub's URL layout under the stand-in's base URL)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

DOCS = "https://docs.github.com/rest/pulls/pulls"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _id(*parts: object) -> int:
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:8], 16)


def user_json(base_url: str, login: str) -> dict[str, Any]:
    url = f"{base_url}/users/{login}"
    return {
        "login": login, "id": _id("user", login), "node_id": f"U_{_id('user', login)}",
        "avatar_url": f"{base_url}/avatars/{login}", "gravatar_id": "", "url": url,
        "html_url": f"{base_url}/{login}", "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}", "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions", "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos", "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events", "type": "User", "site_admin": False,
    }  # fmt: skip


_REPO_URLS = {
    "archive_url": "/{archive_format}{/ref}", "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}", "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}", "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}", "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}", "contributors_url": "/contributors",
    "deployments_url": "/deployments", "downloads_url": "/downloads", "events_url": "/events",
    "forks_url": "/forks", "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}", "git_tags_url": "/git/tags{/sha}",
    "issue_comment_url": "/issues/comments{/number}", "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}", "keys_url": "/keys{/key_id}", "labels_url": "/labels{/name}",
    "languages_url": "/languages", "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}", "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}", "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}", "subscribers_url": "/subscribers",
    "subscription_url": "/subscription", "tags_url": "/tags", "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}", "hooks_url": "/hooks",
}  # fmt: skip


def repo_json(base_url: str, full_name: str, default_branch: str) -> dict[str, Any]:
    owner, name = full_name.split("/", 1)
    api = f"{base_url}/repos/{full_name}"
    out: dict[str, Any] = {key: api + suffix for key, suffix in _REPO_URLS.items()}
    out.update({
        "id": _id("repo", full_name), "node_id": f"R_{_id('repo', full_name)}", "name": name,
        "full_name": full_name, "private": True, "owner": user_json(base_url, owner),
        "html_url": f"{base_url}/{full_name}", "description": None, "fork": False, "url": api,
        "git_url": f"{base_url}/{full_name}.git", "ssh_url": f"{base_url}/{full_name}.git",
        "clone_url": f"{base_url}/{full_name}.git", "svn_url": f"{base_url}/{full_name}",
        "mirror_url": None, "homepage": None, "language": None, "license": None, "forks": 0,
        "forks_count": 0, "stargazers_count": 0, "watchers_count": 0, "watchers": 0, "size": 0,
        "default_branch": default_branch, "open_issues_count": 0, "open_issues": 0,
        "has_pages": False, "disabled": False, "archived": False, "visibility": "private",
        "pushed_at": None, "created_at": None, "updated_at": None,
    })  # fmt: skip
    return out


@dataclass
class PullRequest:
    """One pull request; `head_sha` follows the head branch while the PR is open."""

    number: int
    owner: str
    title: str
    body: str | None
    head_ref: str
    base_ref: str
    head_sha: str
    base_sha: str
    user: str
    draft: bool = False
    state: str = "open"
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    closed_at: str | None = None
    merged_at: str | None = None
    merge_commit_sha: str | None = None
    merged_by: str | None = None
    approved_by: list[str] = field(default_factory=list)
    mergeable: bool | None = None
    mergeable_for: tuple[str, str] | None = None  # (base_sha, head_sha) `mergeable` is about
    computing_for: tuple[str, str] | None = None  # the (base_sha, head_sha) being computed
    commits: int = 0
    additions: int = 0
    deletions: int = 0
    changed_files: int = 0

    @property
    def merged(self) -> bool:
        return self.merged_at is not None

    def mergeable_state(self, required_approvals: int) -> str:
        if self.merged or self.state != "open" or self.mergeable is None:
            return "unknown"
        if not self.mergeable:
            return "dirty"
        if len(self.approved_by) < required_approvals:
            return "blocked"
        return "draft" if self.draft else "clean"


def pull_json(
    pr: PullRequest, *, base_url: str, full_name: str, default_branch: str, full: bool,
    required_approvals: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """GitHub's JSON for a pull request: `full` for GET/POST/PATCH, else the list's simple form."""
    api = f"{base_url}/repos/{full_name}"
    html = f"{base_url}/{full_name}/pull/{pr.number}"
    repo = repo_json(base_url, full_name, default_branch)
    owner = user_json(base_url, pr.owner)
    links = {
        "self": f"{api}/pulls/{pr.number}", "html": html,
        "issue": f"{api}/issues/{pr.number}", "comments": f"{api}/issues/{pr.number}/comments",
        "review_comments": f"{api}/pulls/{pr.number}/comments",
        "review_comment": f"{api}/pulls/comments{{/number}}",
        "commits": f"{api}/pulls/{pr.number}/commits", "statuses": f"{api}/statuses/{pr.head_sha}",
    }  # fmt: skip
    out: dict[str, Any] = {
        "url": links["self"], "id": _id("pr", full_name, pr.number),
        "node_id": f"PR_{_id('pr', full_name, pr.number)}", "html_url": html,
        "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "issue_url": links["issue"],
        "commits_url": links["commits"], "review_comments_url": links["review_comments"],
        "review_comment_url": links["review_comment"], "comments_url": links["comments"],
        "statuses_url": links["statuses"], "number": pr.number, "state": pr.state,
        "locked": False, "title": pr.title, "user": user_json(base_url, pr.user), "body": pr.body,
        "labels": [], "milestone": None, "active_lock_reason": None,
        "created_at": pr.created_at, "updated_at": pr.updated_at, "closed_at": pr.closed_at,
        "merged_at": pr.merged_at, "merge_commit_sha": pr.merge_commit_sha, "assignee": None,
        "assignees": [], "requested_reviewers": [], "requested_teams": [],
        "head": {"label": f"{pr.owner}:{pr.head_ref}", "ref": pr.head_ref, "sha": pr.head_sha,
                 "user": owner, "repo": repo},
        "base": {"label": f"{pr.owner}:{pr.base_ref}", "ref": pr.base_ref, "sha": pr.base_sha,
                 "user": owner, "repo": repo},
        "_links": {k: {"href": v} for k, v in links.items()},
        "author_association": "MEMBER", "auto_merge": None, "draft": pr.draft,
    }  # fmt: skip
    if full:
        out.update({
            "merged": pr.merged, "mergeable": None if pr.merged else pr.mergeable,
            "rebaseable": None if pr.merged else pr.mergeable,
            "mergeable_state": pr.mergeable_state(required_approvals),
            "merged_by": user_json(base_url, pr.merged_by) if pr.merged_by else None,
            "comments": 0, "review_comments": 0, "maintainer_can_modify": False,
            "commits": pr.commits, "additions": pr.additions, "deletions": pr.deletions,
            "changed_files": pr.changed_files,
        })  # fmt: skip
    return out
