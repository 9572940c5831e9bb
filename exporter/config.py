"""The pipeline configuration: one YAML file, validated so every error names its key.

The remediator loads the same model. Secrets never live in the YAML: a `SecretRef` names an
environment variable or a file, resolved once at load time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

import yaml
from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from exporter.config_refs import Secret as Secret
from exporter.config_refs import SecretRef as SecretRef
from exporter.config_refs import file_refs, secret_refs, unreadable
from exporter.config_types import Duration, HttpUrl, Model
from exporter.market_config import SessionsConfig


class ConfigError(Exception):
    """Invalid configuration; the message names each offending key and the problem."""


class ProbeTiming(Model):
    interval: Duration = 15.0
    timeout: Duration = 5.0
    staleness: Duration = 120.0

    @model_validator(mode="after")
    def _timeout_fits(self) -> ProbeTiming:
        if self.interval <= 0:
            raise ValueError("interval must be positive")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if self.staleness < self.interval:
            raise ValueError("staleness must be at least the interval")
        return self


# every probe name `probes.overrides` may tune (a family's replicas share its name)
PROBE_NAMES = (
    "clickhouse_freshness",
    "clickhouse_storage",
    "clickhouse_replicas",
    "kafka_lag",
    "kafka_retention",
    "flink_deployment",
    "flink_rest",
    "checkpoint_storage",
    "trading",
    "jangar",
    "market",
)


class ProbesConfig(Model):
    default: ProbeTiming = ProbeTiming()
    overrides: dict[str, ProbeTiming] = Field(default_factory=dict)
    # cap on one HTTP answer a probe reads (Flink REST, Jangar); a larger one fails the probe
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)

    @field_validator("overrides")
    @classmethod
    def _known_probes(cls, v: dict[str, ProbeTiming]) -> dict[str, ProbeTiming]:
        unknown = sorted(set(v) - set(PROBE_NAMES))
        if unknown:
            raise ValueError(
                f"no probe named {', '.join(map(repr, unknown))}; probes are {', '.join(PROBE_NAMES)}"
            )
        return v

    def timing(self, probe: str) -> ProbeTiming:
        if probe not in PROBE_NAMES:  # keeps PROBE_NAMES, which validates overrides, complete
            raise KeyError(f"probe {probe!r} is missing from exporter.config.PROBE_NAMES")
        return self.overrides.get(probe, self.default)


class ClickHouseReplica(Model):
    name: str
    url: HttpUrl


class ClickHouseConfig(Model):
    replicas: list[ClickHouseReplica] = Field(min_length=1)
    database: str = "torghut"
    tables: list[str] = Field(default_factory=lambda: ["ta_signals", "ta_microbars"], min_length=1)
    signals_table: str = "ta_signals"
    user: str = "default"
    password: SecretRef | None = None
    verify_tls: bool = True
    ca_file: Path | None = None
    connect_timeout: Duration = 5.0
    # per-symbol freshness only scans this much recent data (never a full scan)
    symbol_window: Duration = 6 * 3600.0
    # rows further ahead of the server's clock are ignored by freshness (and counted)
    future_tolerance: Duration = 60.0
    # each replica's freshness read; default 0.8 x the clickhouse_freshness probe timeout
    replica_timeout: Duration | None = None
    top_partitions: int = Field(default=5, ge=1, le=50)

    @field_validator("database", "signals_table")
    @classmethod
    def _identifier(cls, v: str) -> str:
        return _identifier(v)

    @field_validator("tables")
    @classmethod
    def _identifiers(cls, v: list[str]) -> list[str]:
        return [_identifier(t) for t in v]

    @model_validator(mode="after")
    def _signals_listed(self) -> ClickHouseConfig:
        if self.signals_table not in self.tables:
            raise ValueError(f"signals_table {self.signals_table!r} is not among tables")
        return self


def _identifier(v: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
        raise ValueError(f"not a plain identifier: {v!r}")
    return v


class KafkaSecurity(Model):
    """TLS (server CA, optional client certificate for mTLS) and SASL (PLAIN or SCRAM)."""

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    username: str | None = None
    password: SecretRef | None = None
    ca_file: Path | None = None  # None: the system trust store
    cert_file: Path | None = None  # client certificate (PEM, may hold the chain) for mTLS
    key_file: Path | None = None
    key_password: SecretRef | None = None

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        if self.protocol.startswith("SASL"):
            missing = [
                k for k in ("sasl_mechanism", "username", "password") if getattr(self, k) is None
            ]
            if missing:
                raise ValueError(f"{self.protocol} needs {', '.join(missing)}")
        else:
            unused = [k for k in ("sasl_mechanism", "username", "password") if getattr(self, k)]
            if unused:
                raise ValueError(f"{', '.join(unused)} only apply to SASL_* protocols")
        tls = [k for k in ("ca_file", "cert_file", "key_file", "key_password") if getattr(self, k)]
        if tls and self.protocol not in ("SSL", "SASL_SSL"):
            raise ValueError(f"{', '.join(tls)} need protocol SSL or SASL_SSL")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both cert_file and key_file (client certificate) or neither")
        if self.key_password is not None and self.key_file is None:
            raise ValueError("key_password needs key_file")
        return self


class GroupIdSource(Model):
    """The consumer group to measure: fixed, or read from the live TA ConfigMap (default)."""

    value: str | None = None
    configmap_key: str = "TA_GROUP_ID"


class KafkaConfig(Model):
    bootstrap_servers: list[str] = Field(min_length=1)
    security: KafkaSecurity = KafkaSecurity()
    topics: list[str] = Field(min_length=1)
    group_id: GroupIdSource = GroupIdSource()
    request_timeout: Duration = 5.0

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port(cls, v: list[str]) -> list[str]:
        for server in v:
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port, got {server!r}")
        return v


class KubernetesConfig(Model):
    # None: the in-cluster service account, else (a laptop) $KUBECONFIG or ~/.kube/config
    kubeconfig: Path | None = None
    context: str | None = None
    request_timeout: Duration = 5.0


class FlinkConfig(Model):
    deployment: str = "torghut-ta"
    rest_url: HttpUrl | None = None


class S3Config(Model):
    """Checkpoint storage; the bucket and prefix come from the FlinkDeployment's state.checkpoints.dir.

    `enabled: false` runs no storage probe: the checkpoints verdict then rests on Flink's own
    last-checkpoint time. Without `endpoint_url` the client talks to AWS S3, with the keys below
    or else botocore's default credential chain (environment, web identity, instance role).
    """

    enabled: bool = True
    endpoint_url: HttpUrl | None = None
    region: str = "us-east-1"
    access_key_id: SecretRef | None = None
    secret_access_key: SecretRef | None = None
    verify_tls: bool = True
    ca_file: Path | None = None  # CA bundle for an https endpoint (e.g. MinIO with a private CA)

    @model_validator(mode="after")
    def _consistent(self) -> S3Config:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key or neither")
        if self.ca_file is not None and not self.verify_tls:
            raise ValueError("ca_file is unused when verify_tls is false")
        return self


class JangarConfig(Model):
    url: HttpUrl
    symbols: list[str] = Field(default_factory=lambda: ["NVDA"])
    path: str = "/api/torghut/ta/latest"


class TradingConfig(Model):
    service: str = "torghut"
    env_var: str = "TRADING_ENABLED"


# the report's signal freshness bound; equal to TASignalsStale's threshold (a test checks it)
SIGNALS_FRESHNESS_SECONDS = 300.0


class ReportThresholds(Model):
    freshness: Duration = SIGNALS_FRESHNESS_SECONDS
    disk_free_ratio: float = Field(default=0.15, gt=0, lt=1)
    checkpoint_age: Duration = 600.0
    kafka_lag: Duration = 300.0
    expiry_margin: Duration = 6 * 3600.0


class ServerConfig(Model):
    host: str = "0.0.0.0"
    port: int = Field(default=9108, ge=1, le=65535)


class Config(Model):
    namespace: str = "torghut"
    ta_configmap: str = "torghut-ta-config"
    watch_symbols: list[str] = Field(default_factory=lambda: ["NVDA"])
    clickhouse: ClickHouseConfig
    kafka: KafkaConfig
    kubernetes: KubernetesConfig = KubernetesConfig()
    flink: FlinkConfig = FlinkConfig()
    checkpoint_storage: S3Config = S3Config()
    jangar: JangarConfig | None = None
    trading: TradingConfig = TradingConfig()
    market: SessionsConfig = SessionsConfig()
    probes: ProbesConfig = ProbesConfig()
    report: ReportThresholds = ReportThresholds()
    server: ServerConfig = ServerConfig()
    _secrets: dict[str, Secret] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _replica_timeout_fits(self) -> Config:
        probe = self.probes.timing("clickhouse_freshness").timeout
        mine = self.clickhouse.replica_timeout
        if mine is not None and not 0 < mine < probe:
            raise ValueError(
                f"clickhouse.replica_timeout ({mine:g}s) must be positive and shorter than the "
                f"clickhouse_freshness probe timeout ({probe:g}s)"
            )
        return self

    def secret(self, key: str) -> Secret | None:
        """A resolved secret by its key path, e.g. `clickhouse.password`."""
        return self._secrets.get(key)


def _loc(part: int | str) -> str:
    return f"[{part}]" if isinstance(part, int) else f".{part}"


def _format(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        path = "".join(_loc(p) for p in err["loc"])
        path = path.removeprefix(".") or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{path}: {msg}")
    return "\n".join(lines)


C = TypeVar("C", bound=Config)


@overload
def parse_config(data: Any) -> Config: ...
@overload
def parse_config(data: Any, *, model: type[C]) -> C: ...
def parse_config(data: Any, *, model: type[Config] = Config) -> Config:
    """Validate a decoded document, resolve its secrets and check that its CA, certificate and
    key files are readable; raise ConfigError naming the keys.

    `model` is Config or an extension of it (the remediator's)."""
    if not isinstance(data, dict):
        raise ConfigError("(top level): expected a mapping of settings")
    try:
        cfg = model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format(exc)) from None
    problems = []
    for path, ref in secret_refs(cfg):
        try:
            cfg._secrets[path] = Secret(ref.resolve())
        except ValueError as exc:
            problems.append(f"{path}: {exc}")
    kube = cfg.kubernetes
    if kube.context is not None and kube.kubeconfig is None and not os.environ.get("KUBECONFIG"):
        problems.append(
            "kubernetes.context: needs kubernetes.kubeconfig (or KUBECONFIG set): the in-cluster "
            "service account has no contexts"
        )
    for path, file in file_refs(cfg):
        if (problem := unreadable(file)) is not None:
            problems.append(f"{path}: {problem}")
    if problems:
        raise ConfigError("\n".join(problems))
    return cfg


def read_config_document(path: str | Path) -> Any:
    """The decoded YAML of a config file; ConfigError when it cannot be read or parsed."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def load_config(path: str | Path) -> Config:
    """Read, validate and resolve a config file."""
    return parse_config(read_config_document(path))
