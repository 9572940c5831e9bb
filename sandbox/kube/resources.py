"""The kinds the stand-in serves and how each behaves (core vs CRD, status subresource)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    """One API resource: where it lives and which write rules apply."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    crd: bool = False  # custom resources: generation on spec changes, no strategic merge
    status_subresource: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """`plural.group` as the real API names it in messages (`configmaps` for core)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def key(self) -> str:
        return f"{self.api_version}/{self.plural}"


RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "configmaps", "ConfigMap"),
    Resource("", "v1", "secrets", "Secret"),
    Resource("", "v1", "events", "Event"),
    Resource("events.k8s.io", "v1", "events", "Event"),
    Resource("coordination.k8s.io", "v1", "leases", "Lease"),
    Resource(
        "flink.apache.org",
        "v1beta1",
        "flinkdeployments",
        "FlinkDeployment",
        crd=True,
        status_subresource=True,
    ),
    # Argo CD's Application CRD has no status subresource: the controller writes status inline.
    Resource("argoproj.io", "v1alpha1", "applications", "Application", crd=True),
    Resource("serving.knative.dev", "v1", "services", "Service", crd=True, status_subresource=True),
)

_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}


def by_path(group: str, version: str, plural: str) -> Resource | None:
    return _BY_PATH.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> Resource | None:
    return _BY_KIND.get((api_version, kind))


FLINK = by_path("flink.apache.org", "v1beta1", "flinkdeployments")
APPLICATION = by_path("argoproj.io", "v1alpha1", "applications")
KNATIVE_SERVICE = by_path("serving.knative.dev", "v1", "services")
SECRET = by_path("", "v1", "secrets")
