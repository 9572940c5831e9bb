"""Branch protection on the GitOps remote, exercised with the real git CLI from a fresh clone
(as the remediator will push): the tracked branch takes no direct, force or delete push; feature
branches take anything."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sandbox.gitops import APP_PATH, GitRepo, git

CM = f"{APP_PATH}/ta/configmap.yaml"


def _clone(repo: GitRepo, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(repo.remote), str(dest)], check=True)
    git(dest, "config", "user.name", "remediator")
    git(dest, "config", "user.email", "remediator@torghut.invalid")
    return dest


def _commit(clone: Path, text: str) -> str:
    path = clone / CM
    path.write_text(path.read_text() + f"# {text}\n")
    git(clone, "commit", "-q", "-am", text)
    return git(clone, "rev-parse", "HEAD")


def _push(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "push", *args], cwd=clone, capture_output=True, text=True, check=False
    )


def test_direct_push_to_tracked_branch_is_refused(gitops_repo: GitRepo, tmp_path: Path) -> None:
    clone = _clone(gitops_repo, tmp_path / "clone")
    before = gitops_repo.remote_head()
    _commit(clone, "direct change")
    done = _push(clone, "origin", "HEAD:main")
    assert done.returncode != 0
    assert "GH006: Protected branch update failed for refs/heads/main." in done.stderr
    assert "Changes must be made through a pull request." in done.stderr
    assert "pre-receive hook declined" in done.stderr
    assert gitops_repo.remote_head() == before


def test_feature_branches_take_pushes_and_force_pushes(
    gitops_repo: GitRepo, tmp_path: Path
) -> None:
    clone = _clone(gitops_repo, tmp_path / "clone")
    git(clone, "checkout", "-q", "-b", "remediate/replay")
    first = _commit(clone, "first try")
    assert _push(clone, "origin", "HEAD:remediate/replay").returncode == 0
    git(clone, "reset", "-q", "--hard", "HEAD~1")
    second = _commit(clone, "second try")
    assert second != first
    done = _push(clone, "--force", "origin", "HEAD:remediate/replay")
    assert done.returncode == 0, done.stderr
    assert git(gitops_repo.remote, "rev-parse", "remediate/replay") == second
    assert _push(clone, "origin", "--delete", "remediate/replay").returncode == 0


def test_bypass_allows_a_direct_push_but_never_a_force_push(
    gitops_repo: GitRepo, tmp_path: Path
) -> None:
    clone = _clone(gitops_repo, tmp_path / "clone")
    option = f"bypass={gitops_repo.bypass_token()}"
    sha = _commit(clone, "admin change")
    assert _push(clone, "-o", option, "origin", "HEAD:main").returncode == 0
    assert gitops_repo.remote_head() == sha
    git(clone, "reset", "-q", "--hard", "HEAD~1")
    _commit(clone, "rewritten history")
    done = _push(clone, "-o", option, "--force", "origin", "HEAD:main")
    assert done.returncode != 0 and "Cannot force-push to this branch" in done.stderr
    done = _push(clone, "-o", option, "origin", "--delete", "main")
    assert done.returncode != 0 and "Cannot delete this branch" in done.stderr
    assert gitops_repo.remote_head() == sha
    git(clone, "fetch", "-q", "origin")
    git(clone, "reset", "-q", "--hard", "origin/main")
    _commit(clone, "a guessed token")
    wrong = _push(clone, "-o", "bypass=guess", "origin", "HEAD:main")
    assert wrong.returncode != 0 and "through a pull request" in wrong.stderr


@pytest.mark.parametrize("force", [False, True])
def test_sandbox_admin_push_still_works(gitops_repo: GitRepo, force: bool) -> None:
    """`GitRepo.commit_and_push` (the sandbox's own setup and tests playing people) bypasses the
    pull-request rule; without the token the same push is refused."""
    gitops_repo.write(CM, gitops_repo.read(CM) + "# admin\n")
    if not force:
        sha = gitops_repo.commit_and_push("admin edit")
        assert gitops_repo.remote_head() == sha
        return
    git(gitops_repo.workdir, "commit", "-q", "-am", "unreviewed")
    done = _push(gitops_repo.workdir, "origin", "HEAD:main")
    assert done.returncode != 0 and "GH006" in done.stderr
