"""Apache Kafka for the sandbox: a single KRaft broker+controller on 127.0.0.1, real jars.

The broker is the real thing: `org.apache.kafka:kafka_2.13` and its runtime jars, resolved from
Maven Central into `.cache/kafka/<version>/libs` by `scripts/fetch-kafka.sh` (called from
`scripts/ensure-deps.sh`), run with `java -cp 'libs/*' kafka.Kafka server.properties` after
`kafka.tools.StorageTool format`. It listens on 127.0.0.1 with three listeners:

- PLAINTEXT (`kafka_bootstrap`): what the sandbox, the TA writer and most tests use;
- SASL_PLAINTEXT with SCRAM-SHA-512 (`kafka_sasl_bootstrap`): users are created at format time
  (`users`, default `SCRAM_USERS`);
- SSL (`kafka_ssl_bootstrap`): a server certificate signed by a throwaway CA (`kafka_ca_file`).

Retention is real: the retention check runs every second from the start, so a topic created (or
altered) with a short `retention.ms` and `segment.ms` loses its old segments, and the beginning
offset moves. Topics are never auto-created. Relaunching on the same workdir keeps every topic,
record and committed offset (the storage is formatted only once).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sandbox.tls import make_server_tls
from sandbox.util import Service, free_port, port_open, spawn, wait_started

KAFKA_VERSION = "4.4.0"  # scripts/fetch-kafka.sh reads this line
REPO_ROOT = Path(__file__).resolve().parent.parent
SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_USERS: Mapping[str, str] = {"torghut-ta-exporter": "sandbox-exporter-secret"}
_LOG4J = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""
_STARTED = "Kafka Server started"


def kafka_libs(version: str = KAFKA_VERSION) -> Path:
    """The directory of Kafka's jars; an error saying how to get them when it is incomplete."""
    home = REPO_ROOT / ".cache" / "kafka" / version
    if not (home / ".complete").is_file():
        raise RuntimeError(
            f"Apache Kafka {version} is not in {home}: run scripts/fetch-kafka.sh "
            "(scripts/ensure-deps.sh does) to resolve it from Maven Central"
        )
    return home / "libs"


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("java (17+) is needed to run the sandbox's Kafka broker")
    return java


def _cluster_id() -> str:
    while True:  # Kafka's own rule: an id never starts with "-" (the CLI would read an option)
        value = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not value.startswith("-"):
            return value


def _server_properties(
    *, data: Path, port: int, sasl_port: int, ssl_port: int, controller_port: int, tls_pem: Path
) -> str:
    host = "127.0.0.1"
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{controller_port}",
        "controller.listener.names": "CONTROLLER",
        "listeners": (
            f"PLAINTEXT://{host}:{port},SASL_PLAINTEXT://{host}:{sasl_port},"
            f"SSL://{host}:{ssl_port},CONTROLLER://{host}:{controller_port}"
        ),
        "advertised.listeners": (
            f"PLAINTEXT://{host}:{port},SASL_PLAINTEXT://{host}:{sasl_port},SSL://{host}:{ssl_port}"
        ),
        "listener.security.protocol.map": (
            "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT"
        ),
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.enabled.mechanisms": SCRAM_MECHANISM,
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(tls_pem),
        "ssl.client.auth": "none",
        "log.dirs": str(data),
        "num.partitions": "1",
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # retention really runs: 2 s after start (sooner races the log cleaner), then every second
        "log.initial.task.delay.ms": "2000",
        "log.retention.check.interval.ms": "1000",
        "file.delete.delay.ms": "1000",
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def _format(
    java: str, libs: Path, workdir: Path, properties: Path, users: Mapping[str, str]
) -> None:
    args = [
        java, "-Xmx128m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
        f"-Dlog4j2.configurationFile={workdir / 'log4j2.properties'}",
        "-cp", f"{libs}/*", "kafka.tools.StorageTool", "format",
        "-t", _cluster_id(), "-c", str(properties),
    ]  # fmt: skip
    for name, password in users.items():
        args += ["--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]"]
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"Kafka storage format failed: {(done.stdout + done.stderr)[-2000:]}")


@dataclass
class Starting:
    """A broker spawned (and recorded) but not yet waited for: its endpoints are already known,
    so services that only need the address can start meanwhile. `wait()` returns the Service."""

    endpoints: dict[str, str]
    wait: Callable[[], Service]


def launch(
    workdir: Path,
    *,
    port: int | None = None,
    sasl_port: int | None = None,
    ssl_port: int | None = None,
    users: Mapping[str, str] | None = None,
    heap_mb: int = 256,
    version: str = KAFKA_VERSION,
    timeout: float = 120.0,
) -> Service:
    """Start Kafka in the background; endpoints `kafka_bootstrap` (PLAINTEXT),
    `kafka_sasl_bootstrap` (SASL_PLAINTEXT, SCRAM-SHA-512), `kafka_ssl_bootstrap` and
    `kafka_ca_file` (the CA that signed the SSL listener's certificate).

    `users` (name -> password) are the SCRAM users; they are created when the workdir's storage
    is formatted, i.e. on the first launch only.
    """
    return start(
        workdir, port=port, sasl_port=sasl_port, ssl_port=ssl_port, users=users,
        heap_mb=heap_mb, version=version, timeout=timeout,
    ).wait()  # fmt: skip


def start(
    workdir: Path,
    *,
    port: int | None = None,
    sasl_port: int | None = None,
    ssl_port: int | None = None,
    users: Mapping[str, str] | None = None,
    heap_mb: int = 256,
    version: str = KAFKA_VERSION,
    timeout: float = 120.0,
) -> Starting:
    """`launch` in two steps: format (if needed) and spawn now, wait for the broker later."""
    libs = kafka_libs(version)
    java = _java()
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    sasl_port = sasl_port or free_port()
    ssl_port = ssl_port or free_port()
    controller_port = free_port()
    tls = make_server_tls(workdir / "tls")
    data = workdir / "data"
    properties = workdir / "server.properties"
    properties.write_text(
        _server_properties(
            data=data, port=port, sasl_port=sasl_port, ssl_port=ssl_port,
            controller_port=controller_port, tls_pem=tls.server_pem,
        )
    )  # fmt: skip
    log4j = workdir / "log4j2.properties"
    log4j.write_text(_LOG4J)
    if not (data / "meta.properties").exists():
        _format(java, libs, workdir, properties, SCRAM_USERS if users is None else users)
    log = workdir / f"kafka-{port}.log"
    seen = log.stat().st_size if log.exists() else 0  # a relaunch appends to the same log
    args = [
        java, f"-Xmx{heap_mb}m", "-Xms64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-XX:-UsePerfData", "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
        "-cp", f"{libs}/*", "kafka.Kafka", str(properties),
    ]  # fmt: skip
    proc = spawn(args, log_path=log, cwd=workdir)
    (workdir / "kafka.pid").write_text(f"{proc.pid}\n")

    def ready() -> bool:
        with log.open("rb") as f:
            f.seek(seen)
            started = _STARTED.encode() in f.read()
        # the log line alone is not enough: the port could belong to another process
        return started and port_open(port)

    endpoints = {
        "kafka_bootstrap": f"127.0.0.1:{port}",
        "kafka_sasl_bootstrap": f"127.0.0.1:{sasl_port}",
        "kafka_ssl_bootstrap": f"127.0.0.1:{ssl_port}",
        "kafka_ca_file": str(tls.ca_cert),
    }

    def wait() -> Service:
        wait_started(proc.pid, ready, log=log, what="kafka", timeout=timeout, interval=0.1)
        return Service("kafka", proc.pid, dict(endpoints), str(log))

    return Starting(dict(endpoints), wait)
