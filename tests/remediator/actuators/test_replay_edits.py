"""The replay's manifest reads and edits on the sandbox's seeded manifests (the production
layout): only the intended lines change, comments and quoting stay, bad input is named."""

from __future__ import annotations

import difflib

import pytest

from remediator.actuators import replay_edits as edits
from sandbox.gitops import Settings, render_manifests

FILES = render_manifests()
CM = FILES[edits.CONFIGMAP_FILE]
FD = FILES[edits.JOB_FILE]


def changed(old: str, new: str) -> list[str]:
    return [
        ln for ln in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
        if ln[:1] in "+-" and not ln.startswith(("+++", "---"))
    ]  # fmt: skip


def test_reads_the_steady_state() -> None:
    data = edits.configmap_data(CM)
    assert data["TA_GROUP_ID"] == "torghut-ta-v1"
    assert data["TA_KAFKA_STARTING_OFFSETS"] == "earliest"
    mode, image = edits.job_settings(FD)
    assert mode == "last-state"
    assert edits.image_digest(image) == Settings().image_digest


def test_the_replay_change_touches_only_its_lines() -> None:
    cm = edits.set_data(
        CM, {"TA_GROUP_ID": "g-replay", "TA_KAFKA_STARTING_OFFSETS": "timestamp:1800000000000"}
    )
    assert sorted(changed(CM, cm)) == [
        "+  TA_GROUP_ID: g-replay",
        "+  TA_KAFKA_STARTING_OFFSETS: timestamp:1800000000000",
        "-  TA_GROUP_ID: torghut-ta-v1",
        "-  TA_KAFKA_STARTING_OFFSETS: earliest",
    ]
    fd = edits.set_job(FD, upgrade_mode="stateless", bump_nonce=True)
    assert sorted(changed(FD, fd)) == [
        "+    upgradeMode: stateless",
        "+  restartNonce: 2",
        "-    upgradeMode: last-state",
        "-  restartNonce: 1",
    ]
    assert edits.set_data(CM, {"TA_GROUP_ID": "torghut-ta-v1"}) == CM  # nothing to change


def test_image_pinned_by_digest_only() -> None:
    _, image = edits.job_settings(FD)
    assert image is not None
    other = edits.with_digest(image, "sha256:" + "b" * 64)
    assert other.endswith("@sha256:" + "b" * 64) and other.split("@")[0] == image.split("@")[0]
    assert len(changed(FD, edits.set_job(FD, image=other))) == 2
    with pytest.raises(ValueError, match="not pinned by a sha256 digest"):
        edits.set_job(FD, image="registry/torghut-ta:latest")
    with pytest.raises(ValueError, match="upgradeMode must be"):
        edits.set_job(FD, upgrade_mode="savepoints")
    with pytest.raises(ValueError, match="expected kind ConfigMap"):
        edits.set_data(FD, {"A": "b"})


def test_the_savepoint_trigger_nonce_is_added_then_bumped() -> None:
    once = edits.set_job(FD, bump_savepoint=True)
    assert changed(FD, once) == ["+    savepointTriggerNonce: 1"]
    twice = edits.set_job(once, bump_savepoint=True)
    assert changed(once, twice) == [
        "-    savepointTriggerNonce: 1",
        "+    savepointTriggerNonce: 2",
    ]
    broken = once.replace("savepointTriggerNonce: 1", "savepointTriggerNonce: one")
    with pytest.raises(ValueError, match=r"spec\.job\.savepointTriggerNonce is not an integer"):
        edits.set_job(broken, bump_savepoint=True)
