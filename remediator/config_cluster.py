"""Config of the cluster actuators: the ClickHouse remediation identity and Alertmanager.

Kubernetes needs nothing new: the actuators use the exporter's `kubernetes` section (kubeconfig
or the in-cluster ServiceAccount, `request_timeout`).
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from exporter.config import SecretRef
from exporter.config_types import Duration, HttpUrl, Model


class ClickHouseRemediation(Model):
    """The ClickHouse user the remediator acts as: DROP PARTITION (`ALTER DELETE`) and
    `SYSTEM RESTART/RESTORE REPLICA` on the TA tables, SELECT on system.parts/replicas/disks,
    nothing else (docs/security.md). Never the exporter's read-only user nor the writer."""

    user: str = "torghut_remediator"
    password: SecretRef
    # one DROP PARTITION / SYSTEM RESTART|RESTORE REPLICA; a restore reads every local part
    query_timeout: Duration = 120.0

    @field_validator("user")
    @classmethod
    def _plain(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", v):
            raise ValueError(f"not a plain user name: {v!r}")
        return v


class BasicAuth(Model):
    username: str = Field(min_length=1)
    password: SecretRef


class AlertmanagerConfig(Model):
    """Where the remediator posts its own alerts (`POST /api/v2/alerts`). Every URL gets every
    alert, as Prometheus sends to each Alertmanager of an HA pair (they deduplicate)."""

    urls: list[HttpUrl] = Field(min_length=1)
    bearer_token: SecretRef | None = None
    basic_auth: BasicAuth | None = None
    timeout: Duration = 10.0
    # the alerts' runbook_url base and dashboard_url (like the chart's prometheusRule values);
    # unset keeps the repository's defaults
    runbook_base: HttpUrl | None = None
    dashboard_url: HttpUrl | None = None
    # the remediator's API as people reach it: the alerts link the run at <run_url_base>/runs/ID
    # (Alertmanager refuses a generatorURL that is not an absolute URI); unset: the listen
    # address, http://<listen host>:<listen port>
    run_url_base: HttpUrl | None = None

    @model_validator(mode="after")
    def _one_auth(self) -> AlertmanagerConfig:
        if self.bearer_token is not None and self.basic_auth is not None:
            raise ValueError("give bearer_token or basic_auth, not both")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        return self
