"""Kubernetes `Status` error bodies, worded like the real API server."""

from __future__ import annotations

from typing import Any

from sandbox.kube.resources import Resource

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
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


def invalid(res: Resource, name: str, field: str, message: str) -> ApiError:
    details = _details(res, name)
    details["causes"] = [{"reason": "FieldValueInvalid", "message": message, "field": field}]
    return ApiError(
        422,
        f'{res.kind}.{res.group or "core"} "{name}" is invalid: {field}: {message}'
        if res.group
        else f'{res.kind} "{name}" is invalid: {field}: {message}',
        details=details,
    )


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
