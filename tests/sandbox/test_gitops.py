"""The sandbox GitOps repo looks like the production one and round-trips with comments."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import yaml
from ruamel.yaml import YAML

from sandbox.gitops import APP_PATH, GitRepo, create_repo, git

FD = f"{APP_PATH}/ta/flinkdeployment.yaml"
CM = f"{APP_PATH}/ta/configmap.yaml"
KSVC = f"{APP_PATH}/knative-service.yaml"


def test_repo_is_pushed_with_the_manifests(gitops_repo: GitRepo) -> None:
    assert gitops_repo.head() == gitops_repo.remote_head()
    tracked = git(gitops_repo.remote, "ls-tree", "-r", "--name-only", "main").splitlines()
    assert sorted(tracked) == sorted([FD, CM, KSVC, f"{APP_PATH}/README.md"])
    assert git(gitops_repo.workdir, "status", "--porcelain") == ""


def test_flinkdeployment_shape(gitops_repo: GitRepo) -> None:
    fd = yaml.safe_load(gitops_repo.read(FD))
    assert (fd["apiVersion"], fd["kind"]) == ("flink.apache.org/v1beta1", "FlinkDeployment")
    assert fd["metadata"] == {**fd["metadata"], "name": "torghut-ta", "namespace": "torghut"}
    spec = fd["spec"]
    assert re.fullmatch(r".+@sha256:[0-9a-f]{64}", spec["image"])
    conf = spec["flinkConfiguration"]
    assert conf["state.checkpoints.dir"] == "s3://torghut-flink/checkpoints/torghut-ta"
    assert conf["state.savepoints.dir"].startswith("s3://torghut-flink/")
    assert conf["state.backend"] and conf["execution.checkpointing.interval"]
    assert spec["restartNonce"] == 1
    assert spec["job"]["upgradeMode"] == "last-state" and spec["job"]["state"] == "running"
    assert spec["job"]["jarURI"] and spec["job"]["parallelism"] >= 1
    env = spec["podTemplate"]["spec"]["containers"][0]["env"]
    assert {"name": "TA_KAFKA_DELIVERY_GUARANTEE", "value": "AT_LEAST_ONCE"} in env


def test_configmap_and_trading_switch(gitops_repo: GitRepo) -> None:
    data = yaml.safe_load(gitops_repo.read(CM))["data"]
    for key in (
        "TA_GROUP_ID",
        "TA_TRADES_TOPIC",
        "TA_QUOTES_TOPIC",
        "TA_BARS1M_TOPIC",
        "TA_MICROBARS_TOPIC",
        "TA_SIGNALS_TOPIC",
        "KAFKA_BOOTSTRAP_SERVERS",
    ):
        assert isinstance(data[key], str) and data[key], key
    ksvc = yaml.safe_load(gitops_repo.read(KSVC))
    env = ksvc["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "TRADING_ENABLED", "value": "true"} in env
    readme = gitops_repo.read(f"{APP_PATH}/README.md")
    assert "## TA replay workflow (canonical)" in readme


def test_settings_override_names(tmp_path: Path) -> None:
    repo = create_repo(
        tmp_path,
        kafka_bootstrap="127.0.0.1:19092",
        group_id="g-test",
        checkpoint_bucket="ckpt",
        trading_enabled=False,
    )
    data = yaml.safe_load(repo.read(CM))["data"]
    assert data["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:19092" and data["TA_GROUP_ID"] == "g-test"
    conf = yaml.safe_load(repo.read(FD))["spec"]["flinkConfiguration"]
    assert conf["state.checkpoints.dir"] == "s3://ckpt/checkpoints/torghut-ta"
    assert 'value: "false"' in repo.read(KSVC)
    with pytest.raises(FileExistsError):
        create_repo(tmp_path)


def test_manifests_round_trip_with_comments(gitops_repo: GitRepo) -> None:
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096  # ruamel wraps at 80 columns by default; the image lines are longer
    rt.indent(mapping=2, sequence=4, offset=2)
    for rel in (FD, CM, KSVC):
        text = gitops_repo.read(rel)
        assert re.search(r"^\s*# ", text, re.M), f"{rel} has no comments"
        out = io.StringIO()
        rt.dump(rt.load(text), out)
        assert out.getvalue() == text, rel


def test_commit_and_push_publishes_an_edit(gitops_repo: GitRepo) -> None:
    old = gitops_repo.remote_head()
    gitops_repo.write(FD, gitops_repo.read(FD).replace("restartNonce: 1", "restartNonce: 2"))
    sha = gitops_repo.commit_and_push("ta: restart")
    assert sha != old and gitops_repo.remote_head() == sha
    assert "restartNonce: 2" in git(gitops_repo.remote, "show", f"main:{FD}")
