"""Authentication and RBAC authorization, as the API server's filters do them.

Tokens: the admin token (the sandbox's own setup and tests: every request allowed) and
ServiceAccount tokens minted by TokenRequest (`POST .../serviceaccounts/{name}/token`): JWT-shaped,
HMAC-signed with the admin token, so they survive a restart and need no storage. A token names
the user `system:serviceaccount:<ns>:<name>`, in the groups `system:serviceaccounts`,
`system:serviceaccounts:<ns>` and `system:authenticated`.

Authorization walks the RoleBindings of the request's namespace and every ClusterRoleBinding in
the store (rbac.authorization.k8s.io/v1 objects, loaded from the rendered Helm chart), exactly
like the RBAC authorizer: a rule matches on verb, API group, resource (`plural/subresource`) and,
when it lists any, resourceNames. `get` does not imply `list`/`watch`; `patch` is not `update`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from sandbox.kube.resources import (
    CLUSTER_ROLE,
    CLUSTER_ROLE_BINDING,
    ROLE,
    ROLE_BINDING,
)
from sandbox.kube.store import Obj, Store

ADMIN = "system:admin"
ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]

    @property
    def admin(self) -> bool:
        return self.name == ADMIN


@dataclass(frozen=True)
class Request:
    """The authorizer's attributes of one resource request."""

    verb: str
    group: str
    resource: str  # plural, or plural/subresource
    namespace: str  # "" at the cluster scope
    name: str  # "" for collections and create


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def mint(secret: str, namespace: str, name: str, uid: str, seconds: int) -> tuple[str, int]:
    """A signed token for the ServiceAccount; returns (token, expiry as epoch seconds)."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": service_account_user(namespace, name),
        "aud": [ISSUER],
        "iat": now,
        "nbf": now,
        "exp": now + seconds,
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
    }
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}", now + seconds


def authenticate(secret: str, header: str) -> User | None:
    """The user a `Bearer` header names, or None (401) for anything not signed here."""
    if not header.startswith("Bearer "):
        return None
    token = header[len("Bearer ") :].strip()
    if hmac.compare_digest(token.encode(), secret.encode()):
        return User(ADMIN, ("system:masters", "system:authenticated"))
    parts = token.split(".")
    if len(parts) != 3:
        return None
    want = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(parts[2]), want):
            return None
        claims: dict[str, Any] = json.loads(_unb64(parts[1]))
    except (ValueError, TypeError):
        return None
    if int(claims.get("exp", 0)) < time.time():
        return None
    sub = str(claims.get("sub", ""))
    ns = sub.split(":")[2] if sub.count(":") == 3 else ""
    groups = ("system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated")
    return User(sub, groups)


def _bound(binding: Obj, user: User) -> bool:
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "ServiceAccount":
            if service_account_user(subject.get("namespace", ""), name or "") == user.name:
                return True
        elif (kind == "User" and name == user.name) or (kind == "Group" and name in user.groups):
            return True
    return False


def _rule_allows(rule: Obj, req: Request) -> bool:
    verbs, groups = rule.get("verbs") or [], rule.get("apiGroups") or []
    resources, names = rule.get("resources") or [], rule.get("resourceNames") or []
    if "*" not in verbs and req.verb not in verbs:
        return False
    if "*" not in groups and req.group not in groups:
        return False
    sub = req.resource.partition("/")[2]
    if not ("*" in resources or req.resource in resources or (sub and f"*/{sub}" in resources)):
        return False
    return not names or req.name in names


def _rules(store: Store, binding: Obj, namespace: str) -> list[Obj]:
    ref = binding.get("roleRef") or {}
    if ref.get("kind") == "ClusterRole":
        role = store.find(CLUSTER_ROLE, "", ref.get("name", ""))
    else:
        role = store.find(ROLE, namespace, ref.get("name", ""))
    return list((role or {}).get("rules") or [])


def allowed(store: Store, user: User, req: Request) -> bool:
    if user.admin:
        return True
    bindings = [(b, "") for b in store.list(CLUSTER_ROLE_BINDING, None)]
    if req.namespace:
        bindings += [(b, req.namespace) for b in store.list(ROLE_BINDING, req.namespace)]
    for binding, ns in bindings:
        if _bound(binding, user) and any(
            _rule_allows(rule, req) for rule in _rules(store, binding, ns)
        ):
            return True
    return False
