"""The remediator's configuration: the exporter's file layout plus a `remediator:` section.

One file (and one chart value set) feeds both components; the exporter's loader rejects the
section, so the chart renders the remediator's file with it and the exporter's without it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from exporter.config import (
    Config,
    ConfigError,
    SecretRef,
    parse_config,
    read_config_document,
)
from exporter.config_types import Duration, Model
from remediator.config_cluster import AlertmanagerConfig, ClickHouseRemediation
from remediator.config_gitops import ArgoConfig, GitOpsConfig, with_work_dir
from remediator.config_replay import ReplayConfig

Mode = Literal["observe", "propose", "auto"]
ProcedureName = Literal["A", "B", "trading_gate"]
PROCEDURES: tuple[ProcedureName, ...] = ("A", "B", "trading_gate")
# modes that change nothing outside the remediator's own journal
READ_ONLY_MODES: frozenset[str] = frozenset({"observe"})
# what a mode that acts must configure: `remediator.<key>` -> what it is for. The sections are
# added by the actuators' config models (remediator.gitops, remediator.argocd); a key missing
# here, or None in the parsed config, is a clear error naming it.
ACTING_NEEDS: dict[str, str] = {
    "gitops": "the GitOps repository the changes go to (pull requests or merges)",
    "argocd": "the Argo CD Application that syncs those changes",
}


class ApiToken(Model):
    """A person's (or a tool's) token for the read and approve API; `name` is who they are."""

    name: str = Field(min_length=1, max_length=64)
    token: SecretRef
    may_approve: bool = True

    @field_validator("name")
    @classmethod
    def _printable(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._@+-]+", v):
            raise ValueError(f"use letters, digits and . _ @ + - only, got {v!r}")
        return v


class Allowlist(Model):
    """Values an alert label may carry to be acted on; empty lists take the exporter's config."""

    namespaces: list[str] = Field(default_factory=list)
    deployments: list[str] = Field(default_factory=list)
    tables: list[str] = Field(default_factory=list)
    replicas: list[str] = Field(default_factory=list)


class DropBounds(Model):
    """What procedure A may drop on its own; outside these bounds a person decides."""

    keep_days: int = Field(default=7, ge=1)  # never the newest N days
    max_partitions: int = Field(default=3, ge=1, le=100)
    max_bytes: int = Field(default=50 * 2**30, ge=1)
    # partitions whose rows Kafka no longer holds can only come back from backups
    approve_unreplayable: bool = True


class Policy(Model):
    procedures: list[ProcedureName] = Field(default_factory=lambda: list(PROCEDURES))
    cooldown: Duration = 1800.0  # per procedure and target, after a run that acted
    max_runs_per_hour: int = Field(default=6, ge=1)
    # an open run whose alerts were not re-sent for this long ends (Alertmanager re-sends firing
    # alerts every repeat_interval, 30m in the shipped route): keep it well above that
    alerts_silent_after: Duration = 7200.0
    drop: DropBounds = DropBounds()
    # acting (propose/auto)
    approval_ttl: Duration = 1800.0  # an unanswered approval request expires
    verify_timeout: Duration = 600.0  # a verify step polls until this deadline
    verify_every: Duration = 15.0
    step_attempts: int = Field(default=3, ge=1, le=20)  # per step, for retryable errors
    retry_backoff: Duration = 5.0  # doubled per attempt, at most 60s
    # the emergency merge-patch of the FlinkDeployment (recorded as drift, then the git change)
    emergency_patch: bool = False
    # the trading gate pauses trading without a person (the safe direction) unless this is set
    approve_trading_pause: bool = False


class ListenConfig(Model):
    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=1 << 20, ge=1024)


class LeaseConfig(Model):
    """The leader Lease (coordination.k8s.io/v1): only its holder changes anything."""

    name: str = Field(default="torghut-ta-remediator", min_length=1, max_length=253)
    # None: the namespace the pod runs in (its service account's), i.e. the install's
    namespace: str | None = None
    duration: Duration = 15.0  # leaseDurationSeconds: whole seconds
    renew_every: Duration = 5.0
    identity: str | None = None  # None: hostname_pid

    @model_validator(mode="after")
    def _renew_well_within(self) -> LeaseConfig:
        if self.duration < 1 or self.duration != int(self.duration):
            raise ValueError(f"duration: whole seconds, at least 1s, got {self.duration}s")
        if not 0 < self.renew_every * 3 <= self.duration:
            raise ValueError(
                f"renew_every ({self.renew_every}s) must be above 0 and at most a third of "
                f"duration ({self.duration}s): a holder stops acting renew_every before its "
                "Lease could be taken over, and needs room to retry a failed renew"
            )
        return self


class RemediatorSection(Model):
    mode: Mode = "observe"
    listen: ListenConfig = ListenConfig()
    # Alertmanager's bearer token: it may only post notifications
    webhook_token: SecretRef | None = None
    api_tokens: list[ApiToken] = Field(default_factory=list)
    # set by an authenticating ingress in front of the API; trusted only when named here
    identity_header: str | None = None
    journal_path: Path = Path("/var/lib/torghut-ta-remediator/journal.sqlite3")
    paused: bool = False
    pause_annotation: str = "torghut.io/remediation-paused"
    allow: Allowlist = Allowlist()
    policy: Policy = Policy()
    gitops: GitOpsConfig | None = None
    argocd: ArgoConfig | None = None
    lease: LeaseConfig = LeaseConfig()
    clickhouse_remediation: ClickHouseRemediation | None = None
    alertmanager: AlertmanagerConfig | None = None
    replay: ReplayConfig = ReplayConfig()

    @model_validator(mode="after")
    def _gitops_beside_journal(self) -> RemediatorSection:
        # frozen, but still being validated: nobody holds this section yet
        object.__setattr__(self, "gitops", with_work_dir(self.gitops, self.journal_path))
        return self

    @field_validator("api_tokens")
    @classmethod
    def _unique_names(cls, v: list[ApiToken]) -> list[ApiToken]:
        names = [t.name for t in v]
        if len(set(names)) != len(names):
            raise ValueError("each token's name must be unique (it is who acted)")
        return v


class RemediatorConfig(Config):
    remediator: RemediatorSection = RemediatorSection()

    def allowed(self, kind: str) -> frozenset[str]:
        """The allowlist for one label kind, defaulting to what the exporter watches."""
        allow = self.remediator.allow
        explicit = {
            "namespace": allow.namespaces,
            "deployment": allow.deployments,
            "table": allow.tables,
            "replica": allow.replicas,
        }[kind]
        if explicit:
            return frozenset(explicit)
        return frozenset(
            {
                "namespace": [self.namespace],
                "deployment": [self.flink.deployment],
                "table": self.clickhouse.tables,
                "replica": [r.name for r in self.clickhouse.replicas],
            }[kind]
        )


def parse_remediator_config(data: object) -> RemediatorConfig:
    cfg = parse_config(data, model=RemediatorConfig)
    check_acting_needs(cfg)
    return cfg


def check_acting_needs(cfg: RemediatorConfig) -> None:
    """A mode that acts must name what acting needs (observe needs none of it)."""
    mode = cfg.remediator.mode
    if mode in READ_ONLY_MODES:
        return
    missing = [
        f"remediator.{key}: required in mode {mode!r} ({why}); use mode 'observe' without it"
        for key, why in ACTING_NEEDS.items()
        if getattr(cfg.remediator, key, None) is None
    ]
    if missing:
        raise ConfigError("\n".join(missing))


def load_remediator_config(path: str | Path) -> RemediatorConfig:
    return parse_remediator_config(read_config_document(path))


__all__ = [
    "ACTING_NEEDS",
    "ApiToken",
    "ConfigError",
    "LeaseConfig",
    "Mode",
    "RemediatorConfig",
    "load_remediator_config",
    "parse_remediator_config",
]
