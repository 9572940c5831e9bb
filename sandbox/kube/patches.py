"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902), with the API server's error codes."""

from __future__ import annotations

import copy
import json
from typing import Any

from sandbox.kube.errors import ApiError, bad_request, unsupported_media_type

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class PatchFailed(Exception):
    """A JSON patch operation could not be applied (the API answers 422)."""


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchFailed(f"invalid JSON pointer {pointer!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _index(container: list[Any], token: str, *, for_add: bool) -> int:
    if for_add and token == "-":
        return len(container)
    if not token.isdigit():
        raise PatchFailed(f"invalid array index {token!r}")
    i = int(token)
    if i > len(container) or (not for_add and i == len(container)):
        raise PatchFailed(f"array index {i} out of bounds")
    return i


def _parent(doc: Any, pointer: str) -> tuple[Any, str]:
    tokens = _tokens(pointer)
    if not tokens:
        raise PatchFailed("operation on the document root is not supported")
    node = doc
    for token in tokens[:-1]:
        node = _get_child(node, token, pointer)
    return node, tokens[-1]


def _get_child(node: Any, token: str, pointer: str) -> Any:
    if isinstance(node, dict):
        if token not in node:
            raise PatchFailed(f"missing path {pointer!r}")
        return node[token]
    if isinstance(node, list):
        return node[_index(node, token, for_add=False)]
    raise PatchFailed(f"missing path {pointer!r}")


def _get(doc: Any, pointer: str) -> Any:
    node = doc
    for token in _tokens(pointer):
        node = _get_child(node, token, pointer)
    return node


def _add(doc: Any, pointer: str, value: Any) -> None:
    parent, token = _parent(doc, pointer)
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, token, for_add=True), value)
    else:
        raise PatchFailed(f"cannot add at {pointer!r}")


def _remove(doc: Any, pointer: str) -> Any:
    parent, token = _parent(doc, pointer)
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchFailed(f"unable to remove nonexistent key {token!r}: missing value")
        return parent.pop(token)
    if isinstance(parent, list):
        return parent.pop(_index(parent, token, for_add=False))
    raise PatchFailed(f"cannot remove {pointer!r}")


def json_patch(target: Any, ops: list[dict[str, Any]]) -> Any:
    """Apply RFC 6902 operations to a copy of `target`; raise PatchFailed on any failure."""
    doc = copy.deepcopy(target)
    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        if kind == "add":
            _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _remove(doc, path)
            _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "move":
            _add(doc, path, _remove(doc, op.get("from", "")))
        elif kind == "copy":
            _add(doc, path, copy.deepcopy(_get(doc, op.get("from", ""))))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise PatchFailed(f"testing value {path} failed: test failed")
        else:
            raise PatchFailed(f"Unexpected kind: {kind}")
    return doc


def apply_patch(content_type: str, body: bytes, target: dict[str, Any], *, crd: bool) -> Any:
    """Parse and apply a PATCH body the way the API server chooses by Content-Type."""
    media = content_type.split(";")[0].strip().lower()
    accepted = [JSON_PATCH, MERGE, APPLY] if crd else [JSON_PATCH, MERGE, STRATEGIC, APPLY]
    if media not in (JSON_PATCH, MERGE) and not (media == STRATEGIC and not crd):
        raise unsupported_media_type(accepted)
    try:
        patch = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"error decoding patch: {exc}") from exc
    if media == JSON_PATCH:
        if not isinstance(patch, list) or not all(isinstance(op, dict) for op in patch):
            raise bad_request(
                "json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp"
            )
        try:
            return json_patch(target, patch)
        except PatchFailed as exc:
            raise ApiError(
                422,
                "the server rejected our request due to an error in our request",
                details={"causes": [{"message": str(exc)}]},
            ) from exc
    # Strategic merge on core kinds: the kinds served here have no list merge keys worth honouring.
    if not isinstance(patch, dict):
        raise bad_request("json: cannot unmarshal into Go value of type map[string]interface {}")
    return merge_patch(target, patch)
