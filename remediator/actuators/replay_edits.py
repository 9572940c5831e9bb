"""Pure reads and edits of the two manifests a replay changes (`ta/configmap.yaml`,
`ta/flinkdeployment.yaml`), on the same round-trip YAML as `gitops` (comments and layout kept)."""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml.scalarstring import ScalarString

from remediator.actuators.gitops import _dump, _load, _mapping

CONFIGMAP_FILE = "ta/configmap.yaml"
JOB_FILE = "ta/flinkdeployment.yaml"
DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")


def _kind(doc: Any, kind: str) -> None:
    if doc.get("kind") != kind:
        raise ValueError(f"expected kind {kind}, found {doc.get('kind')!r}")


def configmap_data(text: str) -> dict[str, str]:
    doc = _load(text)
    _kind(doc, "ConfigMap")
    data = doc.get("data") or {}
    return {str(k): str(v) for k, v in data.items()}


def job_settings(text: str) -> tuple[str | None, str | None]:
    """(spec.job.upgradeMode, spec.image) of a FlinkDeployment."""
    doc = _load(text)
    _kind(doc, "FlinkDeployment")
    spec = _mapping(doc, "spec", "")
    job = spec.get("job") or {}
    mode, image = job.get("upgradeMode"), spec.get("image")
    return (None if mode is None else str(mode)), (None if image is None else str(image))


def image_digest(image: str | None) -> str | None:
    found = DIGEST.search(image or "")
    return found.group(1) if found else None


def set_data(text: str, values: dict[str, str]) -> str:
    """The ConfigMap with `data` keys set (quoting kept); unchanged text when nothing differs."""
    doc = _load(text)
    _kind(doc, "ConfigMap")
    data = _mapping(doc, "data", "")
    changed = False
    for key, value in values.items():
        old = data.get(key)
        if old != value:
            data[key] = type(old)(value) if isinstance(old, ScalarString) else value
            changed = True
    return _dump(doc) if changed else text


def set_job(
    text: str,
    *,
    upgrade_mode: str | None = None,
    image: str | None = None,
    bump_nonce: bool = False,
    bump_savepoint: bool = False,
) -> str:
    """The FlinkDeployment with `spec.job.upgradeMode`, `spec.image` set, `spec.restartNonce`
    bumped (the operator restarts the job on a new nonce) and `spec.job.savepointTriggerNonce`
    bumped (the operator takes a savepoint of the running job, restarting nothing)."""
    doc = _load(text)
    _kind(doc, "FlinkDeployment")
    spec = _mapping(doc, "spec", "")
    job = _mapping(spec, "job", "spec.")
    changed = False
    if upgrade_mode is not None and job.get("upgradeMode") != upgrade_mode:
        if upgrade_mode not in ("last-state", "savepoint", "stateless"):
            raise ValueError("upgradeMode must be last-state, savepoint or stateless")
        job["upgradeMode"] = upgrade_mode
        changed = True
    if image is not None and spec.get("image") != image:
        if image_digest(image) is None:
            raise ValueError(f"image {image!r} is not pinned by a sha256 digest")
        spec["image"] = image
        changed = True
    if bump_nonce:
        nonce = spec.get("restartNonce", 0)
        if isinstance(nonce, bool) or not isinstance(nonce, int):
            raise ValueError(f"spec.restartNonce is not an integer: {nonce!r}")
        spec["restartNonce"] = nonce + 1
        changed = True
    if bump_savepoint:
        nonce = job.get("savepointTriggerNonce", 0)
        if isinstance(nonce, bool) or not isinstance(nonce, int):
            raise ValueError(f"spec.job.savepointTriggerNonce is not an integer: {nonce!r}")
        job["savepointTriggerNonce"] = nonce + 1
        changed = True
    return _dump(doc) if changed else text


def with_digest(image: str, digest: str) -> str:
    """`image` pinned to `digest` instead of its current one."""
    repo = DIGEST.sub("", image)
    return f"{repo.split('@', 1)[0]}@{digest}"
