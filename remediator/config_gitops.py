"""Config of the remediator's GitOps actuators: the git repository Argo CD watches, the GitHub
API that opens and merges its pull requests, and Argo CD's own API that syncs them."""

from __future__ import annotations

import re
import ssl
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, field_validator, model_validator

from exporter.config_refs import SecretRef
from exporter.config_types import Duration, HttpUrl, Model

_REPO = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*)/[A-Za-z0-9_.-]+")
# git's check-ref-format, minus what our own names never need
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")


def _git_url(value: str) -> str:
    """A git remote: https://, ssh://, user@host:path (scp-like) or a local path (the sandbox).
    Credentials never go in it: the URL is logged, the token is passed out of band."""
    if not value.strip():
        raise ValueError("a git remote URL is required")
    parsed = urlparse(value)
    if parsed.scheme in ("http", "https", "ssh", "git", "file"):
        if parsed.password or (parsed.scheme in ("http", "https") and parsed.username):
            raise ValueError("URL must not carry credentials; use github.token")
    elif "://" in value:
        raise ValueError(f"unsupported git URL scheme in {value!r}")
    return value


class TlsOptions(Model):
    verify_tls: bool = True
    ca_file: Path | None = None  # None: the system trust store
    request_timeout: Duration = 30.0

    @model_validator(mode="after")
    def _ca_used(self) -> TlsOptions:
        if self.ca_file is not None and not self.verify_tls:
            raise ValueError("ca_file is unused when verify_tls is false")
        if self.request_timeout <= 0:
            raise ValueError("request_timeout must be positive")
        return self

    def ssl_context(self) -> bool | ssl.SSLContext:
        """What aiohttp/httpx take: False (no check), the CA's context, or True (system)."""
        if not self.verify_tls:
            return False
        if self.ca_file is not None:
            return ssl.create_default_context(cafile=str(self.ca_file))
        return True


class GitHubConfig(TlsOptions):
    api_url: HttpUrl = "https://api.github.com"
    repo: str  # owner/name
    # pull requests: read and write; contents: write (the same token pushes over https)
    token: SecretRef
    merge_method: Literal["merge", "squash"] = "merge"

    @field_validator("repo")
    @classmethod
    def _owner_name(cls, v: str) -> str:
        if not _REPO.fullmatch(v):
            raise ValueError(f'expected "owner/name", got {v!r}')
        return v

    @property
    def owner(self) -> str:
        return self.repo.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]


class GitOpsConfig(Model):
    remote_url: str
    branch: str = "main"  # the tracked branch (the Application's targetRevision)
    app_path: str = "argocd/applications/torghut"
    # a clone kept between runs; default: `gitops/` beside the journal (set by the section)
    work_dir: Path | None = None
    author_name: str = Field(default="torghut-remediator", min_length=1)
    author_email: str = Field(default="torghut-remediator@users.noreply.github.com", min_length=3)
    # a push rejected as non-fast-forward is fetched, re-edited and pushed again this many times
    push_retries: int = Field(default=3, ge=0, le=20)
    # push to `branch` directly (policy `how: push`); needs a credential that bypasses branch
    # protection, so it is off by default
    direct_push: bool = False
    # a push option sent with direct pushes (`git push -o`), e.g. a host's bypass token; the
    # sandbox's protected remote accepts `bypass=<token>`
    direct_push_option: SecretRef | None = None
    git_timeout: Duration = 120.0  # one git command (clone, fetch, push)
    merge_timeout: Duration = 3600.0  # propose mode: how long a person has to merge
    poll_interval: Duration = 5.0
    github: GitHubConfig

    @field_validator("remote_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _git_url(v)

    @field_validator("branch")
    @classmethod
    def _branch(cls, v: str) -> str:
        if not _REF.fullmatch(v) or ".." in v or v.endswith((".lock", "/", ".")):
            raise ValueError(f"not a valid branch name: {v!r}")
        return v

    @field_validator("app_path")
    @classmethod
    def _relative(cls, v: str) -> str:
        p = PurePosixPath(v)
        if p.is_absolute() or ".." in p.parts or not p.parts:
            raise ValueError(f"must be a path inside the repository, got {v!r}")
        return str(p)

    @model_validator(mode="after")
    def _positive(self) -> GitOpsConfig:
        for key in ("git_timeout", "merge_timeout", "poll_interval"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive")
        if self.direct_push_option is not None and not self.direct_push:
            raise ValueError("direct_push_option is unused while direct_push is false")
        return self


def with_work_dir(gitops: GitOpsConfig | None, journal_path: Path) -> GitOpsConfig | None:
    """`gitops` with `work_dir` defaulted to `gitops/` beside the journal (the remediator's only
    volume)."""
    if gitops is None or gitops.work_dir is not None:
        return gitops
    return gitops.model_copy(update={"work_dir": journal_path.parent / "gitops"})


class ArgoConfig(TlsOptions):
    api_url: HttpUrl  # Argo CD's server, e.g. https://argocd.example.com (its API is /api/v1)
    token: SecretRef  # an Argo CD account token allowed to get and sync the Application
    app: str = Field(default="torghut-ta", min_length=1, max_length=253)
    # where the Application object lives in Kubernetes (the emergency patch turns its self-heal
    # off there; the chart's Role grants get/patch in that namespace)
    namespace: str = Field(default="argocd", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    sync_timeout: Duration = 600.0  # our sync, from the request until it finished
    # a sync already running when ours is asked for: wait this long for it to finish
    busy_timeout: Duration = 300.0
    poll_interval: Duration = 2.0

    @field_validator("app")
    @classmethod
    def _dns_name(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", v):
            raise ValueError(f"not a valid Application name: {v!r}")
        return v

    @model_validator(mode="after")
    def _positive(self) -> ArgoConfig:
        for key in ("sync_timeout", "busy_timeout", "poll_interval"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive")
        return self
