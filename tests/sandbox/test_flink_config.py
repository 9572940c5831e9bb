"""The generated Flink configuration and job arguments (no JVM started)."""

from __future__ import annotations

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
from sandbox.flink.dist import find_dist
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
    dist = find_dist()  # apache-flink is a test dependency: missing is a failure
    opts = cluster_options(layout, JobManagerMemory(), TaskManagerMemory())
    write_conf_dir(layout, dist, opts)
    assert yaml.safe_load((layout.conf_dir / "config.yaml").read_text()) == opts
    assert (layout.conf_dir / "log4j.properties").is_file()
    assert (layout.workdir / "ckpt").is_dir()


def test_jvm_command_runs_the_main_class_with_the_conf_dir(layout: ClusterLayout) -> None:
    dist = check_available()
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
    check_available()
    jar = compile_job(tmp_path)  # cached by source digest after the first build
    assert jar == (tmp_path / "job" / "ta-job.jar").resolve()
    with zipfile.ZipFile(jar) as zf:
        names = set(zf.namelist())
        manifest = zf.read("META-INF/MANIFEST.MF").decode()
    assert "ta/TaJob.class" in names and "ta/TaJob$Indicator.class" in names
    assert f"Main-Class: {JOB_ENTRY_CLASS}" in manifest


def test_startup_exit_quotes_the_jvm_errors_and_spots_port_clashes(tmp_path: Path) -> None:
    # the lines a JobManager logs when its REST port is taken (seen on Flink 2.3)
    (tmp_path / "jobmanager.log").write_text(
        "2026-11-28 14:10:09,391 ERROR ClusterEntrypoint - Could not start cluster entrypoint.\n"
        "Caused by: java.net.BindException: Could not start rest endpoint on any port in port"
        " range 38093\n"
        "2026-11-28 14:10:09,392 INFO  something harmless\n"
    )
    (tmp_path / "taskmanager.out").write_text("")
    exc = ClusterExited(tmp_path)
    assert exc.port_clash
    assert "jobmanager.log: Caused by: java.net.BindException" in str(exc)
    assert "harmless" not in str(exc)

    (tmp_path / "jobmanager.log").write_text("ERROR IllegalConfigurationException: bad option\n")
    other = ClusterExited(tmp_path)
    assert not other.port_clash
    assert "bad option" in str(other)


def test_launch_refuses_zero_slots(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="slots"):
        launch_cluster(tmp_path, slots=0)
    assert not any(tmp_path.iterdir())  # nothing written, nothing started
