"""The generated Flink configuration and job arguments (no JVM started)."""

from __future__ import annotations

import json
import socket
import zipfile
from pathlib import Path

import pytest
import yaml

from sandbox.flink import check_available, launch_cluster, trigger_failure
from sandbox.flink.cluster import ClusterExited
from sandbox.flink.config import (
    JOBMANAGER_MAIN,
    ClusterLayout,
    JobManagerMemory,
    TaskManagerMemory,
    cluster_options,
    jvm_command,
    write_conf_dir,
)
from sandbox.flink.dist import FlinkUnavailable, find_dist
from sandbox.flink.job import JOB_ENTRY_CLASS, compile_job, job_args


@pytest.fixture
def layout(tmp_path: Path) -> ClusterLayout:
    return ClusterLayout(
        tmp_path, rest_port=18081, rpc_port=16123, slots=2, checkpoint_dir=tmp_path / "ckpt"
    )


def test_config_binds_loopback_and_keeps_state_in_workdir(layout: ClusterLayout) -> None:
    opts = cluster_options(layout, JobManagerMemory(), TaskManagerMemory())
    assert opts["rest.port"] == 18081 and opts["jobmanager.rpc.port"] == 16123
    for key in (
        "rest.address",
        "rest.bind-address",
        "jobmanager.rpc.address",
        "jobmanager.bind-host",
        "taskmanager.host",
        "taskmanager.bind-host",
    ):
        assert opts[key] == "127.0.0.1", key
    assert opts["execution.checkpointing.dir"] == (layout.workdir / "ckpt").as_uri()
    assert opts["taskmanager.numberOfTaskSlots"] == 2
    for key in ("io.tmp.dirs", "web.upload.dir", "blob.storage.directory"):
        assert Path(str(opts[key])).is_relative_to(layout.workdir), key


def test_taskmanager_jvm_flags_match_its_memory_components() -> None:
    tm = TaskManagerMemory()
    flags = tm.jvm_flags()
    assert f"-Xmx{tm.framework_heap + tm.task_heap}m" in flags
    direct = tm.framework_off_heap + tm.task_off_heap + tm.network
    assert f"-XX:MaxDirectMemorySize={direct}m" in flags
    opts = tm.options()
    assert opts["taskmanager.memory.network.min"] == opts["taskmanager.memory.network.max"]


def test_conf_dir_is_valid_yaml_with_every_option(layout: ClusterLayout) -> None:
    try:
        dist = find_dist()
    except FlinkUnavailable as exc:
        pytest.skip(str(exc))
    opts = cluster_options(layout, JobManagerMemory(), TaskManagerMemory())
    write_conf_dir(layout, dist, opts)
    assert yaml.safe_load((layout.conf_dir / "config.yaml").read_text()) == opts
    assert (layout.conf_dir / "log4j.properties").is_file()
    assert (layout.workdir / "ckpt").is_dir()


def test_jvm_command_runs_the_main_class_with_the_conf_dir(layout: ClusterLayout) -> None:
    try:
        dist = check_available()
    except FlinkUnavailable as exc:
        pytest.skip(str(exc))
    argv = jvm_command(
        layout, dist, role="jobmanager", main_class=JOBMANAGER_MAIN, memory_flags=["-Xmx1m"]
    )
    assert argv[-3:] == [JOBMANAGER_MAIN, "--configDir", str(layout.conf_dir)]
    classpath = argv[argv.index("-classpath") + 1].split(":")
    assert Path(classpath[-1]).name.startswith("flink-dist")
    assert "-Xmx1m" in argv


def test_job_args_carry_the_marker_and_restart_policy(tmp_path: Path) -> None:
    args = job_args(tmp_path / "m", restart_attempts=3)
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    assert pairs["--fail-marker"] == str(tmp_path / "m")
    assert pairs["--restart-attempts"] == "3"


def test_trigger_failure_writes_count_or_always(tmp_path: Path) -> None:
    marker = tmp_path / "sub" / "marker"
    trigger_failure(marker, times=2)
    assert marker.read_text().strip() == "2"
    trigger_failure(marker)
    assert marker.read_text().strip() == "always"
    with pytest.raises(ValueError, match="times"):
        trigger_failure(marker, times=0)
    assert marker.read_text().strip() == "always"  # bad input changed nothing


def test_compiled_job_jar_names_its_entry_class(tmp_path: Path) -> None:
    try:
        check_available()
    except FlinkUnavailable as exc:
        pytest.skip(str(exc))
    jar = compile_job(tmp_path)  # cached by source digest after the first build
    assert jar == (tmp_path / "job" / "ta-job.jar").resolve()
    with zipfile.ZipFile(jar) as zf:
        names = set(zf.namelist())
        manifest = zf.read("META-INF/MANIFEST.MF").decode()
    assert "ta/TaJob.class" in names and "ta/TaJob$Indicator.class" in names
    assert f"Main-Class: {JOB_ENTRY_CLASS}" in manifest


@pytest.mark.slow
@pytest.mark.flink
def test_taken_rest_port_fails_fast_with_the_reason(tmp_path: Path) -> None:
    try:
        check_available()
    except FlinkUnavailable as exc:
        pytest.skip(str(exc))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ClusterExited, match="BindException") as info:
            launch_cluster(tmp_path, rest_port=port, timeout=60)
    assert info.value.port_clash
    plan = json.loads((tmp_path / "cluster-plan.json").read_text())
    assert len(plan["processes"]) == 2
    assert "stopping" in (tmp_path / "log" / "supervisor.log").read_text()
