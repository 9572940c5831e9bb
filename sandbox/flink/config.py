"""The generated Flink conf dir and the JVM command lines of a small loopback cluster.

Flink's shell scripts size the JVMs by running `BashJavaUtils` (one extra JVM per process).
We skip that: the memory components are set explicitly in config.yaml, which the TaskManager
requires anyway when started without the scripts, and the JVM flags follow from them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from sandbox.flink.dist import FlinkDist, jdk_tool

JOBMANAGER_MAIN = "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint"
TASKMANAGER_MAIN = "org.apache.flink.runtime.taskexecutor.TaskManagerRunner"

# Startup speed over peak throughput: the sandbox job is tiny and the machine is shared.
SANDBOX_JVM_FLAGS = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]


@dataclass(frozen=True)
class TaskManagerMemory:
    """Every TaskManager memory component, in MiB (their sum is the process size)."""

    framework_heap: int = 64
    task_heap: int = 128
    framework_off_heap: int = 64
    task_off_heap: int = 0
    network: int = 32
    managed: int = 32
    metaspace: int = 160
    overhead: int = 96

    def options(self) -> dict[str, str]:
        return {
            "taskmanager.memory.framework.heap.size": f"{self.framework_heap}m",
            "taskmanager.memory.task.heap.size": f"{self.task_heap}m",
            "taskmanager.memory.framework.off-heap.size": f"{self.framework_off_heap}m",
            "taskmanager.memory.task.off-heap.size": f"{self.task_off_heap}m",
            "taskmanager.memory.network.min": f"{self.network}m",
            "taskmanager.memory.network.max": f"{self.network}m",
            "taskmanager.memory.managed.size": f"{self.managed}m",
            "taskmanager.memory.jvm-metaspace.size": f"{self.metaspace}m",
            "taskmanager.memory.jvm-overhead.min": f"{self.overhead}m",
            "taskmanager.memory.jvm-overhead.max": f"{self.overhead}m",
        }

    def jvm_flags(self) -> list[str]:
        heap = self.framework_heap + self.task_heap
        direct = self.framework_off_heap + self.task_off_heap + self.network
        return [
            f"-Xmx{heap}m",
            f"-Xms{heap}m",
            f"-XX:MaxDirectMemorySize={direct}m",
            f"-XX:MaxMetaspaceSize={self.metaspace}m",
        ]


@dataclass(frozen=True)
class JobManagerMemory:
    """JobManager memory components, in MiB."""

    heap: int = 256
    off_heap: int = 64
    metaspace: int = 160
    overhead: int = 96

    def options(self) -> dict[str, str]:
        return {
            "jobmanager.memory.heap.size": f"{self.heap}m",
            "jobmanager.memory.off-heap.size": f"{self.off_heap}m",
            "jobmanager.memory.jvm-metaspace.size": f"{self.metaspace}m",
            "jobmanager.memory.jvm-overhead.min": f"{self.overhead}m",
            "jobmanager.memory.jvm-overhead.max": f"{self.overhead}m",
        }

    def jvm_flags(self) -> list[str]:
        return [
            f"-Xmx{self.heap}m",
            f"-Xms{self.heap}m",
            f"-XX:MaxDirectMemorySize={self.off_heap}m",
            f"-XX:MaxMetaspaceSize={self.metaspace}m",
        ]


@dataclass(frozen=True)
class ClusterLayout:
    """Files and ports of one cluster under its workdir."""

    workdir: Path
    rest_port: int
    rpc_port: int
    slots: int
    checkpoint_dir: Path

    @property
    def conf_dir(self) -> Path:
        return self.workdir / "conf"

    @property
    def log_dir(self) -> Path:
        return self.workdir / "log"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"


def cluster_options(
    layout: ClusterLayout,
    jm: JobManagerMemory,
    tm: TaskManagerMemory,
) -> dict[str, object]:
    """config.yaml content: everything bound to loopback, state and scratch under workdir."""
    work = layout.workdir
    return {
        "jobmanager.rpc.address": "127.0.0.1",
        "jobmanager.rpc.port": layout.rpc_port,
        "jobmanager.bind-host": "127.0.0.1",
        "jobmanager.execution.failover-strategy": "region",
        "rest.address": "127.0.0.1",
        "rest.bind-address": "127.0.0.1",
        "rest.port": layout.rest_port,
        "taskmanager.host": "127.0.0.1",
        "taskmanager.bind-host": "127.0.0.1",
        "taskmanager.rpc.port": "0",
        "taskmanager.data.port": 0,
        "taskmanager.numberOfTaskSlots": layout.slots,
        # required without BashJavaUtils, which defaults it to the slot count
        "taskmanager.cpu.cores": float(layout.slots),
        "blob.server.port": "0",
        # both JVMs start together; the TaskManager's first lookup of the ResourceManager
        # usually fails, and the default 10 s retry delay would dominate the startup time
        "cluster.registration.error-delay": "500 ms",
        "parallelism.default": 1,
        # REST serves job metrics (numRestarts) from a cache refreshed at most this often
        "metrics.fetcher.update-interval": "1 s",
        # job details/exceptions come from a cached execution graph of this age (default 3 s)
        "web.refresh-interval": "1 s",
        "state.backend.type": "hashmap",
        "execution.checkpointing.dir": layout.checkpoint_dir.resolve().as_uri(),
        "io.tmp.dirs": str(work / "tmp"),
        "blob.storage.directory": str(work / "blobs"),
        "web.tmpdir": str(work / "web"),
        "web.upload.dir": str(work / "uploads"),
        **jm.options(),
        **tm.options(),
    }


def write_conf_dir(layout: ClusterLayout, dist: FlinkDist, options: dict[str, object]) -> None:
    """Create conf/config.yaml (+ the distribution's log4j.properties) and the state dirs."""
    layout.conf_dir.mkdir(parents=True, exist_ok=True)
    layout.log_dir.mkdir(parents=True, exist_ok=True)
    layout.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("tmp", "blobs", "web", "uploads"):
        (layout.workdir / sub).mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(options, sort_keys=True, default_flow_style=False)
    (layout.conf_dir / "config.yaml").write_text(text)
    shutil.copyfile(dist.conf / "log4j.properties", layout.conf_dir / "log4j.properties")


def jvm_command(
    layout: ClusterLayout,
    dist: FlinkDist,
    *,
    role: str,
    main_class: str,
    memory_flags: list[str],
) -> list[str]:
    """argv of one Flink JVM, as flink-console.sh would build it (log to log/<role>.log)."""
    log4j = layout.conf_dir / "log4j.properties"
    return [
        jdk_tool("java"),
        *SANDBOX_JVM_FLAGS,
        *memory_flags,
        *dist.java_opts(),
        f"-Dlog.file={layout.log_dir / f'{role}.log'}",
        f"-Dlog4j.configurationFile=file:{log4j}",
        f"-Dlog4j.configuration=file:{log4j}",
        "-classpath",
        dist.classpath(),
        main_class,
        "--configDir",
        str(layout.conf_dir),
    ]
