"""`ta-sandbox up`: the whole embedded stack, and the product running on it.

Services start in dependency order. Each process is recorded in DIR/sandbox.json the moment it
is spawned, before its start is waited on, and again with its endpoints once it is ready: so
`down` stops everything even after a failed or interrupted (Ctrl-C) `up`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

import sandbox.remediator_svc as remediator_svc
from sandbox import (
    alert_pace,
    clickhouse,
    feed,
    github,
    gitops,
    jangar,
    kafka,
    kube,
    prometheus,
    s3,
    state,
    ta,
)
from sandbox.clickhouse import pressure
from sandbox.clickhouse.grants import ROLES
from sandbox.clickhouse.pressure import DiskLimitError
from sandbox.util import (
    Service,
    free_port,
    python_module_args,
    recording_spawns,
    spawn,
    stop_pid,
    wait_started,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = REPO_ROOT / "alerts" / "rules"
CH_USER = "torghut"  # the TA job's writer
CH_IDENTITIES = {"writer": CH_USER, "ops": "torghut_ops", "remediator": "torghut_remediator"}
GITHUB_REPO = "torghut/gitops"
INGEST_TOPICS = ("trades", "quotes", "bars1m", "microbars", "signals")
KAFKA_EXPORTER_USER = "torghut-ta-exporter"  # the exporter's own SCRAM user (SASL listener)


def exporter_config(
    *, clickhouse_url: str, kafka_sasl_bootstrap: str, kafka_password_file: Path, kubeconfig: str,
    s3_url: str, jangar_url: str, password_file: Path, topics: list[str], port: int,
) -> dict[str, object]:  # fmt: skip
    """The exporter's config for the sandbox. The market is open around the clock here, so the
    freshness signals and alerts are live whenever the demo runs."""
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    return {
        "namespace": "torghut",
        "watch_symbols": ["NVDA", "AAPL", "MSFT"],
        "clickhouse": {
            "replicas": [{"name": "chi-0", "url": clickhouse_url}],
            "user": CH_IDENTITIES["ops"],  # read only: what the exporter needs and no more
            "password": {"file": str(password_file)},
        },
        "kafka": {
            "bootstrap_servers": [kafka_sasl_bootstrap],
            "security": {  # its own SCRAM user, as in production (no PLAINTEXT for the exporter)
                "protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "SCRAM-SHA-512",
                "username": KAFKA_EXPORTER_USER,
                "password": {"file": str(kafka_password_file)},
            },
            "topics": topics,
        },
        "kubernetes": {"kubeconfig": kubeconfig},
        "checkpoint_storage": {
            "endpoint_url": s3_url,
            "access_key_id": {"file": str(password_file.parent / "s3-access-key-id")},
            "secret_access_key": {"file": str(password_file.parent / "s3-secret-access-key")},
        },
        "jangar": {"url": jangar_url, "symbols": ["NVDA"]},
        "market": {
            "timezone": "UTC",
            "sessions": [{"days": every_day, "open": "00:00", "close": "24:00"}],
        },
        "probes": {"default": {"interval": "2s", "timeout": "2s", "staleness": "30s"}},
        "server": {"host": "127.0.0.1", "port": port},
    }


def _clickhouse_identities(
    secrets_dir: Path, writer_password_file: Path
) -> tuple[dict[str, tuple[str, list[str]]], dict[str, str]]:
    """Each ClickHouse identity's user, grants and password file (writer: the given one)."""
    users: dict[str, tuple[str, list[str]]] = {}
    endpoints: dict[str, str] = {}
    for role, user in CH_IDENTITIES.items():
        path = writer_password_file
        if role != "writer":
            path = secrets_dir / f"clickhouse-{role}-password"
            path.write_text(secrets.token_urlsafe(18))
            path.chmod(0o600)
        users[user] = (path.read_text(), ROLES[role])
        prefix = "clickhouse" if role == "writer" else f"clickhouse_{role}"
        endpoints[f"{prefix}_user"] = user
        endpoints[f"{prefix}_password_file"] = str(path)
    return users, endpoints


def launch_exporter(workdir: Path, config_path: Path, port: int) -> Service:
    log_path = workdir / "logs" / "exporter.log"
    args = python_module_args(
        "exporter.cli", "serve", "--config", str(config_path), "--port", str(port)
    )
    proc = spawn(args, log_path=log_path)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/readyz", timeout=1) as resp:
            return resp.status == 200

    wait_started(proc.pid, ready, log=log_path, what="exporter", timeout=60, interval=0.2)
    return Service("exporter", proc.pid, {"exporter": url}, str(log_path))


def _fresh_dir(workdir: Path) -> None:
    """Each `up` starts from empty state; refuse to wipe a directory that is not a sandbox's."""
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / state.STATE_FILE).exists():
            raise RuntimeError(f"{workdir} is not empty and holds no sandbox; choose another --dir")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)


def _needs_root(mib: int, why: str) -> DiskLimitError:
    return DiskLimitError(
        f"--disk-limit {mib}M needs root (CAP_SYS_ADMIN) to mount a tmpfs for ClickHouse's data: "
        f"{why}; run it as root, or without --disk-limit"
    )


def _mount_disk_limit(mount: Path, mib: int) -> None:
    try:
        pressure.mount_tmpfs(mount, mib)
    except OSError as exc:  # PermissionError from mount, FileNotFoundError without mount(8)
        raise _needs_root(mib, str(exc).splitlines()[0]) from exc


def up(
    workdir: Path,
    *,
    timings: str = "middle",
    disk_limit_mib: int | None = None,
    replicated: bool = False,
    log: Callable[[str], None] = print,
    remediator_mode: str = "observe",
    remediator_overrides: dict[str, Any] | None = None,
    history_hours: float = 0.0,
    alert_pace_name: str = "real",
) -> list[Service]:
    """Start every service; return them. Raises (after recording what runs) on failure.
    `timings`: the kube stand-in's controller pace (fast, middle, realistic).
    `disk_limit_mib`: ClickHouse's data directory on a tmpfs of that size (root only; the mount
    is recorded before it is made, and `down` undoes it). `replicated`: a ZooKeeper, and the TA
    tables as ReplicatedReplacingMergeTree on it (read-only replicas in chdb, see docs/sandbox.md).
    `remediator_mode`: refused here, before anything starts, when the config refuses it.
    `remediator_overrides`: merged into the remediator's config (DIR/remediator.yaml), e.g. the
    policy bounds a test needs (`{"remediator": {"policy": {...}}}`).
    `history_hours`: that many hours of backdated trades (one every `HISTORY_EVERY`, record
    timestamps in the past) in the trades topic before the feed and the job start, so Kafka holds
    a past a replay (procedure C) can start from.
    `alert_pace_name`: `real` (the shipped rules) or `fast` (`sandbox.alert_pace`)."""
    remediator_svc.check_mode(remediator_mode)
    if alert_pace_name not in alert_pace.PACES:
        raise ValueError(f"alert pace {alert_pace_name!r}: expected one of {alert_pace.PACES}")
    workdir = workdir.resolve()
    if disk_limit_mib is not None and os.geteuid() != 0:
        raise _needs_root(disk_limit_mib, f"this process runs as uid {os.geteuid()}")
    if any(s for s in state.load(workdir) if s.pid > 0 or state.mounted(s)):
        raise RuntimeError(
            f"a sandbox is already recorded in {workdir}; run `ta-sandbox down` first"
        )
    _fresh_dir(workdir)
    services: list[Service] = []

    def spawned(name: str, pid: int, log_path: Path) -> None:
        services.append(Service(f"{name} (starting)", pid, {}, str(log_path)))
        state.save(workdir, services)

    def started(svc: Service) -> Service:
        services[:] = [s for s in services if s.pid != svc.pid or svc.pid <= 0]
        services.append(svc)
        state.save(workdir, services)
        shown = " ".join(v for k, v in svc.endpoints.items() if k in state.PUBLIC_NAMES)
        log(f"  {svc.name:<13} up  {shown}")
        return svc

    with recording_spawns(spawned):
        _start_all(
            workdir, services, started, timings, disk_limit_mib, replicated, remediator_mode,
            remediator_overrides, history_hours, alert_pace_name,
        )  # fmt: skip
    return services


def _start_all(
    workdir: Path,
    services: list[Service],
    started: Callable[[Service], Service],
    timings: str,
    disk_limit_mib: int | None,
    replicated: bool,
    remediator_mode: str = "observe",
    remediator_overrides: dict[str, Any] | None = None,
    history_hours: float = 0.0,
    alert_pace_name: str = "real",
) -> None:
    secrets_dir = workdir / "secrets"
    secrets_dir.mkdir(exist_ok=True, mode=0o700)
    password = secrets.token_urlsafe(18)
    password_file = secrets_dir / "clickhouse-password"
    password_file.write_text(password)
    password_file.chmod(0o600)
    for name in (
        "s3-access-key-id",
        "s3-secret-access-key",
    ):  # moto accepts any key when auth is off
        (secrets_dir / name).write_text("sandbox")

    ch_users, ch_endpoints = _clickhouse_identities(secrets_dir, password_file)
    if disk_limit_mib is not None:
        mount = workdir / "clickhouse" / "clickhouse-data"
        services.append(
            Service(
                "clickhouse-disk",
                0,
                {"disk_limit": f"{disk_limit_mib}MiB", "disk_limit_mount": str(mount)},
            )
        )
        state.save(workdir, services)  # before mounting: an interrupted start is undone by down
        _mount_disk_limit(mount, disk_limit_mib)
    kafka_password_file = secrets_dir / "kafka-exporter-password"
    kafka_password_file.write_text(secrets.token_urlsafe(18))
    kafka_password_file.chmod(0o600)
    # Kafka's broker takes the longest to boot and needs nothing: it boots while the services
    # that only need its address start, and is waited for before its topics are created
    kafka_starting = kafka.start(
        workdir / "kafka", users={KAFKA_EXPORTER_USER: kafka_password_file.read_text()}
    )
    bootstrap = kafka_starting.endpoints["kafka_bootstrap"]
    keeper = None
    if replicated:
        keeper = started(clickhouse.launch_zookeeper(workdir / "zookeeper")).endpoints["zookeeper"]
    ch = clickhouse.launch(
        workdir / "clickhouse", user=CH_USER, password=password, users=ch_users, replicated=keeper
    )
    ch.endpoints.update(ch_endpoints)
    started(ch)
    ch_url = ch.endpoints["http"]
    s3svc = started(s3.launch(workdir / "s3"))
    s3_url = s3svc.endpoints["s3"]

    settings = gitops.Settings(kafka_bootstrap=bootstrap, s3_endpoint=s3_url, clickhouse_url=ch_url)
    s3.ensure_bucket(s3_url, settings.checkpoint_bucket)  # the TA writer checkpoints into it
    repo = gitops.create_repo(
        workdir / "git", kafka_bootstrap=bootstrap, s3_endpoint=s3_url, clickhouse_url=ch_url
    )
    services.append(
        Service("gitops", 0, {"git_remote": str(repo.remote), "git_workdir": str(repo.workdir)})
    )
    gh = started(github.launch(workdir / "github", repos={GITHUB_REPO: repo.remote}))

    kf = kafka_starting.wait()
    kf.endpoints.update(
        kafka_exporter_user=KAFKA_EXPORTER_USER,
        kafka_exporter_password_file=str(kafka_password_file),
    )
    started(kf)
    topics = [getattr(settings, f"{t}_topic") for t in INGEST_TOPICS]
    asyncio.run(
        kafka.create_topics(bootstrap, {t: kafka.TopicSpec(3, 7 * 86400_000) for t in topics})
    )
    if history_hours > 0:
        asyncio.run(seed_history(bootstrap, settings.trades_topic, history_hours))
    kb = started(kube.launch(workdir / "kube", gitops=repo, timings=timings))
    kubeconfig = kb.endpoints["kubeconfig"]
    exporter_kube, token_file = kube.component_kubeconfig(kb, "exporter", secrets_dir)
    services.append(Service("exporter-sa", 0, {"exporter_token_file": str(token_file)}))

    started(feed.launch(workdir, kafka_bootstrap=bootstrap, topic=settings.trades_topic))
    started(
        ta.launch(
            workdir, kubeconfig=Path(kubeconfig), clickhouse_url=ch_url, kafka_bootstrap=bootstrap,
            clickhouse_user=CH_USER, clickhouse_password_file=password_file, s3_endpoint=s3_url,
        )
    )  # fmt: skip
    jg = started(
        jangar.launch(
            workdir,
            clickhouse_url=ch_url,
            clickhouse_user=CH_USER,
            clickhouse_password_file=password_file,
        )
    )

    config_path = workdir / "exporter.yaml"
    exp_port = free_port()
    cfg = exporter_config(
        clickhouse_url=ch_url, kafka_sasl_bootstrap=kf.endpoints["kafka_sasl_bootstrap"],
        kafka_password_file=kafka_password_file, kubeconfig=str(exporter_kube), s3_url=s3_url,
        jangar_url=jg.endpoints["jangar"], password_file=Path(ch_endpoints["clickhouse_ops_password_file"]),
        topics=[settings.trades_topic],
        port=exp_port,
    )  # fmt: skip
    if alert_pace_name == "fast":  # judge freshness by the bound the fast rules use
        cfg["report"] = {"freshness": alert_pace.FAST_FRESHNESS}
    services.append(
        Service(
            "settings", 0,
            {"alert_pace": alert_pace_name, "remediator_mode": remediator_mode,
             "timings": timings, "replicated": str(replicated).lower(),
             "history_hours": f"{history_hours:g}"},
        )
    )  # fmt: skip
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    exp = started(launch_exporter(workdir, config_path, exp_port))

    am_port = free_port()
    gitops_section, argocd_section = remediator_svc.actuator_sections(
        git_remote=str(repo.remote), github=gh, kube_service=kb, repo=GITHUB_REPO
    )
    rem = started(
        remediator_svc.start(
            workdir, mode=remediator_mode, exporter_cfg=cfg, kube_service=kb,
            clickhouse_user=CH_IDENTITIES["remediator"],
            clickhouse_password_file=Path(ch_endpoints["clickhouse_remediator_password_file"]),
            alertmanager_url=f"http://127.0.0.1:{am_port}",
            gitops=gitops_section, argocd=argocd_section, overrides=remediator_overrides,
        )
    )  # fmt: skip
    am_config = remediator_svc.alertmanager_config(rem)
    am = started(
        prometheus.launch_alertmanager(workdir / "alertmanager", config=am_config, port=am_port)
    )
    rule_files = alert_pace.paced_rule_files(
        sorted(RULES_DIR.glob("*.yml")), alert_pace_name, workdir / "rules"
    )
    target = ("torghut-ta-exporter", exp.endpoints["exporter"].removeprefix("http://"))
    started(
        prometheus.launch_prometheus(
            workdir / "prometheus", rule_files=rule_files,
            scrape_targets=[target, remediator_svc.scrape_target(rem)],
            alertmanager_url=am.endpoints["alertmanager"],
        )
    )  # fmt: skip


HISTORY_EVERY = timedelta(seconds=10)


async def seed_history(bootstrap: str, topic: str, hours: float) -> int:
    """Backdated trades from `hours` ago up to a minute ago; how many were produced."""
    start = datetime.now(UTC) - timedelta(hours=hours)
    count = int((hours * 3600 - 60) / HISTORY_EVERY.total_seconds())
    trades = kafka.generate_trades(count, start=start, interval=HISTORY_EVERY, seed=7)
    await kafka.produce_trades(bootstrap, topic, trades)
    return len(trades)


def down(workdir: Path, *, log: Callable[[str], None] = print) -> int:
    """Stop every recorded process (newest first) by PID; return how many were stopped."""
    services = state.load(workdir)
    stopped = 0
    for svc in reversed(services):
        if svc.pid > 0:
            stop_pid(svc.pid)
            stopped += 1
            log(f"  {svc.name:<13} stopped (pid {svc.pid})")
        if svc.name == "clickhouse":
            clickhouse.stop(svc)
        if state.mounted(svc):
            pressure.unmount(Path(svc.endpoints["disk_limit_mount"]))
            log(f"  {svc.name:<13} unmounted {svc.endpoints['disk_limit_mount']}")
    if services:  # never mark a foreign directory as a sandbox's (the next `up` would wipe it)
        state.save(workdir, [])
    return stopped
