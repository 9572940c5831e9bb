"""Renders the chart with helm-python-sdk (Helm's own Go engine) and parses the manifests.

Tests reach these helpers through the `kit` fixture (test modules never import a conftest).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "helm" / "torghut-ta-ops"
RELEASE = "torghut-ta-ops"
NAMESPACE = "torghut-ta-ops"

# A realistic production install: TLS everywhere, SASL SCRAM plus an mTLS client certificate on
# Kafka, two ClickHouse replicas over https with a private CA, MinIO with keys and a CA, the image
# pinned by digest, and ingress and egress network policies.
PRODUCTION: dict[str, Any] = {
    "image": {"digest": "sha256:" + "cd" * 32},
    "config": {
        "clickhouse": {
            "replicas": [
                {
                    "name": f"chi-torghut-clickhouse-0-{i}",
                    "url": f"https://chi-torghut-clickhouse-0-{i}.torghut.svc:8443",
                }
                for i in (0, 1)
            ],
        },
        "kafka": {
            "bootstrap_servers": ["kafka-kafka-bootstrap.kafka.svc:9093"],
            "security": {
                "protocol": "SASL_SSL",
                "sasl_mechanism": "SCRAM-SHA-512",
                "username": "torghut-ta-ops",
            },
        },
        "checkpoint_storage": {
            "enabled": True,
            "endpoint_url": "https://minio.minio.svc:9000",
            "region": "us-east-1",
        },
    },
    "secrets": {
        "clickhouse": {"name": "torghut-ta-ops-clickhouse", "key": "password"},
        "clickhouseCa": {"name": "torghut-clickhouse-ca", "key": "ca.crt"},
        "kafkaPassword": {"name": "torghut-ta-ops-kafka-user", "key": "password"},
        "kafkaCa": {"name": "kafka-cluster-ca-cert", "key": "ca.crt"},
        "kafkaClientCert": {"name": "torghut-ta-ops-kafka-tls", "key": "user.crt"},
        "kafkaClientKey": {"name": "torghut-ta-ops-kafka-tls", "key": "user.key"},
        "s3AccessKeyId": {"name": "torghut-ta-ops-minio", "key": "accesskey"},
        "s3SecretAccessKey": {"name": "torghut-ta-ops-minio", "key": "secretkey"},
        "s3Ca": {"name": "minio-ca", "key": "ca.crt"},
    },
    "exporter": {"rbac": {"extraConfigMaps": ["torghut-trading-switch"]}},
    "networkPolicy": {
        "enabled": True,
        "egress": {
            "enabled": True,
            "apiServer": {"to": [{"ipBlock": {"cidr": "10.96.0.1/32"}}]},
            "clickhouse": {
                "to": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "torghut"}
                        },
                        "podSelector": {"matchLabels": {"clickhouse.altinity.com/chi": "torghut"}},
                    }
                ]
            },
            "kafka": {
                "to": [
                    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kafka"}}}
                ]
            },
            "s3": {
                "to": [
                    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "minio"}}}
                ]
            },
            "flink": {
                "to": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "torghut"}
                        },
                        "podSelector": {"matchLabels": {"app": "torghut-ta"}},
                    }
                ]
            },
            "jangar": {
                "to": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "jangar"}
                        }
                    }
                ]
            },
        },
    },
}

# The production install with the (observe-mode) remediator on: Alertmanager's webhook token
# from its own Secret and two people's API tokens, one of them read-only.
PRODUCTION_REMEDIATOR: dict[str, Any] = {
    **PRODUCTION,
    "secrets": {
        **PRODUCTION["secrets"],
        "webhookToken": {"name": "torghut-ta-ops-alertmanager", "key": "bearer"},
    },
    "remediator": {
        "enabled": True,
        "apiTokens": [
            {"name": "alice", "secret": {"name": "torghut-ta-ops-alice", "key": "token"}},
            {
                "name": "dashboards",
                "secret": {"name": "torghut-ta-ops-viewer", "key": "viewer-token"},
                "mayApprove": False,
            },
        ],
        "policy": {"cooldown": "45m", "drop": {"keep_days": 10}},
    },
}

# The production install with the remediator acting (`auto`): the GitOps repository on GitHub
# over https, Argo CD's API with a private CA, its own ClickHouse user, Alertmanager behind
# a bearer token, every acting Secret, and the egress policy opened to exactly those peers.
PRODUCTION_AUTO: dict[str, Any] = {
    **PRODUCTION_REMEDIATOR,
    "secrets": {
        **PRODUCTION_REMEDIATOR["secrets"],
        "githubToken": {"name": "torghut-ta-ops-github", "key": "token"},
        "argocdToken": {"name": "torghut-ta-ops-argocd", "key": "argocd-token"},
        "argocdCa": {"name": "argocd-server-tls", "key": "ca.crt"},
        "clickhouseRemediationPassword": {
            "name": "torghut-ta-ops-clickhouse-remediator",
            "key": "password",
        },
        "alertmanagerToken": {"name": "torghut-ta-ops-alertmanager-api", "key": "token"},
    },
    "remediator": {
        **PRODUCTION_REMEDIATOR["remediator"],
        "mode": "auto",
        "gitops": {
            "remote_url": "https://github.com/torghut/gitops.git",
            "branch": "main",
            "app_path": "argocd/applications/torghut",
            "merge_timeout": "2h",
            "github": {"repo": "torghut/gitops", "merge_method": "squash"},
        },
        "argocd": {"api_url": "https://argocd-server.argocd.svc", "sync_timeout": "15m"},
        "clickhouseRemediation": {"user": "torghut_remediator", "query_timeout": "5m"},
        "alertmanager": {
            "urls": [
                "https://alertmanager-0.monitoring.svc:9093",
                "https://alertmanager-1.monitoring.svc:9093",
            ],
        },
        "lease": {"duration": "30s", "renew_every": "10s"},
        "policy": {
            **PRODUCTION_REMEDIATOR["remediator"]["policy"],
            "approval_ttl": "1h",
            "verify_timeout": "20m",
            "verify_every": "30s",
            "step_attempts": 4,
            "retry_backoff": "10s",
            "emergency_patch": True,
        },
    },
    "networkPolicy": {
        **PRODUCTION["networkPolicy"],
        "egress": {
            **PRODUCTION["networkPolicy"]["egress"],
            # GitHub's published web/api/git ranges (https://api.github.com/meta)
            "github": {
                "to": [
                    {"ipBlock": {"cidr": cidr}}
                    for cidr in ("140.82.112.0/20", "192.30.252.0/22", "143.55.64.0/20")
                ],
                "ports": [{"port": 443, "protocol": "TCP"}],
            },
            "argocd": {
                "to": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "argocd"}
                        },
                        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "argocd-server"}},
                    }
                ]
            },
            "alertmanager": {
                "to": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                        },
                        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "alertmanager"}},
                    }
                ]
            },
        },
    },
}

# Value sets every structural test runs against: the default and the shapes operators use.
# The remediator is off by default, so the sets that check its objects switch it on explicitly.
VALUE_SETS: dict[str, dict[str, Any]] = {
    "default": {},
    "network-policy": {"networkPolicy": {"enabled": True}, "remediator": {"enabled": True}},
    "remediator-enabled": {"remediator": {"enabled": True}},
    "exporter-only-no-monitoring": {
        "remediator": {"enabled": False},
        "exporter": {"serviceMonitor": {"enabled": False}},
        "prometheusRule": {"enabled": False},
        "dashboards": {"enabled": False},
    },
    "custom-names": {
        "fullnameOverride": "ta-ops",
        "commonLabels": {"team": "trading"},
        "image": {
            "repository": "registry.example/ta-ops",
            "digest": "sha256:" + "ab" * 32,
        },
        "config": {
            "namespace": "trading-prod",
            "ta_configmap": "ta-blue-config",
            "flink": {"deployment": "ta-blue"},
            "trading": {"service": "trader"},
        },
        "secrets": {
            "clickhouse": {"name": "", "key": "password"},
            "webhookToken": {"name": "ta-hook", "key": "token"},
        },
        "exporter": {"rbac": {"extraConfigMaps": ["trader-switch"]}},
        "remediator": {
            "enabled": True,
            "replicas": 0,
            "port": 8099,
            "pauseAnnotation": "ops.example/hold",
            "identityHeader": "X-Forwarded-User",
            "apiTokens": [{"name": "oncall", "secret": {"name": "ta-oncall", "key": "tok"}}],
            "allow": {"tables": ["ta_signals"]},
            "replay": {"output_consumers": ["torghut"], "silence_for": "2h"},
            "rbac": {
                "applicationNamespace": "gitops",
                "applications": ["ta-blue", "trader"],
                "leaseName": "ta-ops-leader",
            },
            "journal": {
                "existingClaim": "ta-journal",
                "storageClass": "fast",
                "mountPath": "/data/journal",
            },
        },
        "networkPolicy": {"enabled": True, "metricsFrom": [], "webhookFrom": []},
    },
    "no-secrets": {
        "secrets": {
            key: {"name": ""}
            for key in (
                "clickhouse",
                "clickhouseCa",
                "kafkaPassword",
                "kafkaCa",
                "kafkaClientCert",
                "kafkaClientKey",
                "s3AccessKeyId",
                "s3SecretAccessKey",
                "s3Ca",
                "webhookToken",
            )
        },
    },
    "production": PRODUCTION,
    "production-remediator": PRODUCTION_REMEDIATOR,
    "production-auto": PRODUCTION_AUTO,
}


def render_chart(
    values: dict[str, Any] | None = None,
    *,
    chart_dir: Path = CHART_DIR,
    name: str = RELEASE,
    namespace: str = NAMESPACE,
) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` would print it."""
    with helm.Chart.load(chart_dir) as chart:
        return chart.render(values or {}, name=name, namespace=namespace, is_install=True)


def manifests(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """Every object of a render (NOTES.txt and empty documents left out)."""
    objects: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for o in objects:
        if o["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            yield o["metadata"]["name"], o["spec"]["template"]["spec"]


@dataclass(frozen=True)
class ChartKit:
    """What the chart tests share: paths, the value sets and render/query helpers."""

    repo: Path = REPO
    chart_dir: Path = CHART_DIR
    release: str = RELEASE
    namespace: str = NAMESPACE
    value_sets: dict[str, dict[str, Any]] = field(default_factory=lambda: VALUE_SETS)

    def render_text(self, values: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, str]:
        return render_chart(values, **kwargs)

    def render(self, values: dict[str, Any] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        return manifests(render_chart(values, **kwargs))

    find = staticmethod(find)
    pod_specs = staticmethod(pod_specs)


@pytest.fixture(scope="session")
def kit() -> ChartKit:
    # The SDK logs an INFO line per symlink (files/rules) on every load.
    helm.disable_logging()
    return ChartKit()


@pytest.fixture(scope="session")
def rendered_sets(kit: ChartKit) -> dict[str, list[dict[str, Any]]]:
    """Each value set rendered once for the whole session."""
    return {key: kit.render(values) for key, values in kit.value_sets.items()}


@pytest.fixture(scope="session")
def default_objects(rendered_sets: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return rendered_sets["default"]


@pytest.fixture(scope="session")
def remediator_objects(rendered_sets: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The default values with the remediator switched on: every component rendered."""
    return rendered_sets["remediator-enabled"]
