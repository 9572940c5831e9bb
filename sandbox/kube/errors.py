"""Kubernetes `Status` error bodies, worded like the real API server."""

from __future__ import annotations

from typing import Any

from sandbox.kube.resources import Resource

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
}


class ApiError(Exception):
    """An API failure that the server renders as a `Status` body with `code`."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASONS.get(code, "InternalError")
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(res: Resource, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": res.plural}
    if res.group:
        details["group"] = res.group
    return details


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(404, f'{res.qualified} "{name}" not found', details=_details(res, name))


def already_exists(res: Resource, name: str) -> ApiError:
    return ApiError(
        409,
        f'{res.qualified} "{name}" already exists',
        reason="AlreadyExists",
        details=_details(res, name),
    )


def conflict(res: Resource, name: str, why: str | None = None) -> ApiError:
    why = why or (
        "the object has been modified; please apply your changes to the latest version and try again"
    )
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {res.qualified} "{name}": {why}',
        details=_details(res, name),
    )


def _kind_name(res: Resource, *, by_resource: bool = False) -> str:
    """How NewInvalid names the object: `Kind.group` (`Kind` for core); the generic registry's
    resourceVersion check uses the plural instead (`leases.coordination.k8s.io`)."""
    head = res.plural if by_resource else res.kind
    return f"{head}.{res.group}" if res.group else head


def invalid(
    res: Resource, name: str, field: str, message: str, *, by_resource: bool = False
) -> ApiError:
    reason = "FieldValueInvalid"
    if message.startswith("Required value"):
        reason = "FieldValueRequired"
    elif message.startswith("Unsupported value"):
        reason = "FieldValueNotSupported"
    return invalid_many(res, name, [(field, reason, message)], by_resource=by_resource)


def invalid_many(
    res: Resource, name: str, causes: list[tuple[str, str, str]], *, by_resource: bool = False
) -> ApiError:
    """422 Invalid from (field, reason, message) triples, one message as the API joins them."""
    details = _details(res, name)
    details["causes"] = [{"reason": r, "message": m, "field": f} for f, r, m in causes]
    parts = [f"{f}: {m}" for f, _, m in causes]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return ApiError(
        422,
        f'{_kind_name(res, by_resource=by_resource)} "{name}" is invalid: {joined}',
        details=details,
    )


def forbidden(
    res: Resource, name: str | None, user: str, verb: str, namespace: str | None, sub: str | None
) -> ApiError:
    """403 as the authorization filter words it (responsewriters.forbiddenMessage)."""
    resource = f"{res.plural}/{sub}" if sub else res.plural
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    why = f'User "{user}" cannot {verb} resource "{resource}" in API group "{res.group}" {where}'
    subject = f'{res.qualified} "{name}"' if name else res.qualified
    details: dict[str, Any] = {"kind": res.plural}
    if name:
        details["name"] = name
    if res.group:
        details["group"] = res.group
    return ApiError(403, f"{subject} is forbidden: {why}", details=details)


def forbidden_path(user: str, verb: str, path: str) -> ApiError:
    return ApiError(403, f'forbidden: User "{user}" cannot {verb} path "{path}"', details={})


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized")


def unsupported_media_type(accepted: list[str]) -> ApiError:
    return ApiError(
        415,
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )
