"""The kinds the stand-in serves and how each behaves (core vs CRD, status subresource, update
rules, one store behind two API versions)."""

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
    # A PUT without metadata.resourceVersion: allowed (core kinds) or 422 (CRDs, Lease).
    unconditional_update: bool = True
    create_on_update: bool = False  # a PUT to a missing object creates it (Lease)
    storage: str | None = None  # another resource's key when both are views of one store

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

    @property
    def storage_key(self) -> str:
        return self.storage or self.key


RBAC_GROUP = "rbac.authorization.k8s.io"
RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "configmaps", "ConfigMap"),
    Resource("", "v1", "secrets", "Secret"),
    Resource("", "v1", "serviceaccounts", "ServiceAccount"),
    Resource("", "v1", "events", "Event"),
    # events.k8s.io/v1 is a second view of the core events (sandbox.kube.events converts).
    Resource("events.k8s.io", "v1", "events", "Event", storage="v1/events"),
    Resource(
        "coordination.k8s.io",
        "v1",
        "leases",
        "Lease",
        unconditional_update=False,
        create_on_update=True,
    ),
    Resource(RBAC_GROUP, "v1", "roles", "Role"),
    Resource(RBAC_GROUP, "v1", "rolebindings", "RoleBinding"),
    Resource(RBAC_GROUP, "v1", "clusterroles", "ClusterRole", namespaced=False),
    Resource(RBAC_GROUP, "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    Resource(
        "flink.apache.org",
        "v1beta1",
        "flinkdeployments",
        "FlinkDeployment",
        crd=True,
        status_subresource=True,
        unconditional_update=False,
    ),
    # Argo CD's Application CRD has no status subresource: the controller writes status inline.
    Resource(
        "argoproj.io",
        "v1alpha1",
        "applications",
        "Application",
        crd=True,
        unconditional_update=False,
    ),
    Resource(
        "serving.knative.dev",
        "v1",
        "services",
        "Service",
        crd=True,
        status_subresource=True,
        unconditional_update=False,
    ),
)

_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}


def by_path(group: str, version: str, plural: str) -> Resource | None:
    return _BY_PATH.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> Resource | None:
    return _BY_KIND.get((api_version, kind))


def _must(group: str, version: str, plural: str) -> Resource:
    res = by_path(group, version, plural)
    assert res is not None, plural
    return res


FLINK = _must("flink.apache.org", "v1beta1", "flinkdeployments")
APPLICATION = _must("argoproj.io", "v1alpha1", "applications")
KNATIVE_SERVICE = _must("serving.knative.dev", "v1", "services")
SECRET = _must("", "v1", "secrets")
SERVICE_ACCOUNT = _must("", "v1", "serviceaccounts")
CORE_EVENT = _must("", "v1", "events")
EVENT = _must("events.k8s.io", "v1", "events")
LEASE = _must("coordination.k8s.io", "v1", "leases")
ROLE = _must(RBAC_GROUP, "v1", "roles")
ROLE_BINDING = _must(RBAC_GROUP, "v1", "rolebindings")
CLUSTER_ROLE = _must(RBAC_GROUP, "v1", "clusterroles")
CLUSTER_ROLE_BINDING = _must(RBAC_GROUP, "v1", "clusterrolebindings")
