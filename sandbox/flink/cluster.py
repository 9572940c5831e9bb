"""Launch a real Flink standalone session cluster (one JobManager, one TaskManager) on loopback."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from sandbox.flink.config import (
    JOBMANAGER_MAIN,
    TASKMANAGER_MAIN,
    ClusterLayout,
    JobManagerMemory,
    TaskManagerMemory,
    cluster_options,
    jvm_command,
    write_conf_dir,
)
from sandbox.flink.dist import FlinkDist, check_available
from sandbox.flink.job import compile_job, job_args
from sandbox.flink.rest import submit_job, wait_for_running
from sandbox.util import Service, free_port, pid_alive, python_module_args, spawn, stop_pid

READY_TIMEOUT_SECONDS = 240.0
_START_ATTEMPTS = 3
T = TypeVar("T")
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


def get_overview(rest_url: str, timeout: float = 2.0) -> dict[str, Any]:
    """GET /overview (blocking; for readiness checks outside an event loop)."""
    with urllib.request.urlopen(f"{rest_url}/overview", timeout=timeout) as resp:
        return json.loads(resp.read())


class ClusterExited(RuntimeError):
    """A JVM of the cluster exited before the cluster was ready."""

    def __init__(self, log_dir: Path) -> None:
        self.port_clash = False
        lines: list[str] = []
        for log in sorted(log_dir.glob("*.log")) + sorted(log_dir.glob("*.out")):
            text = log.read_text(errors="replace")
            self.port_clash |= "BindException" in text
            errors = [ln for ln in text.splitlines() if "ERROR" in ln or "Caused by" in ln]
            lines += [f"{log.name}: {ln}" for ln in errors[-8:]]
        super().__init__("flink cluster exited during startup:\n" + "\n".join(lines))


def _wait_ready(service: Service, layout: ClusterLayout, timeout: float) -> dict[str, Any]:
    """Poll /overview until a TaskManager has registered all its slots; fail fast on exit."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if not pid_alive(service.pid):
            raise ClusterExited(layout.log_dir)
        try:
            overview = get_overview(layout.rest_url)
            last = overview
            if (
                overview.get("taskmanagers", 0) >= 1
                and overview.get("slots-total", 0) >= layout.slots
            ):
                return overview
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last = exc
        time.sleep(0.25)
    raise TimeoutError(f"flink cluster not ready within {timeout}s (last: {last!r})")


def _start(dist: FlinkDist, layout: ClusterLayout, timeout: float) -> Service:
    """Write the conf dir and plan, start the supervisor and wait for readiness."""
    jm, tm = JobManagerMemory(), TaskManagerMemory()
    write_conf_dir(layout, dist, cluster_options(layout, jm, tm))
    plan = {
        "env": dist.env() | {"FLINK_CONF_DIR": str(layout.conf_dir)},
        "processes": [
            {
                "name": role,
                "argv": jvm_command(
                    layout, dist, role=role, main_class=main, memory_flags=memory.jvm_flags()
                ),
                "log": str(layout.log_dir / f"{role}.out"),
            }
            for role, main, memory in (
                ("jobmanager", JOBMANAGER_MAIN, jm),
                ("taskmanager", TASKMANAGER_MAIN, tm),
            )
        ],
    }
    plan_path = layout.workdir / "cluster-plan.json"
    plan_path.write_text(json.dumps(plan, indent=2))
    log = layout.log_dir / "supervisor.log"
    pythonpath = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    proc = spawn(
        python_module_args("sandbox.flink.supervise", str(plan_path)),
        log_path=log,
        env={"PYTHONPATH": pythonpath},
        cwd=layout.workdir,
    )
    service = Service("flink", proc.pid, {"flink_rest": layout.rest_url}, str(log))
    try:
        _wait_ready(service, layout, timeout)
    except BaseException:
        stop_pid(proc.pid, timeout=10.0)
        raise
    return service


def launch_cluster(
    workdir: Path,
    *,
    rest_port: int | None = None,
    slots: int = 2,
    checkpoint_dir: Path | None = None,
    timeout: float = READY_TIMEOUT_SECONDS,
) -> Service:
    """Start a JobManager and a TaskManager under one supervisor PID and wait for the slots.

    Endpoints: {"flink_rest": "http://127.0.0.1:P"}. Stopping the Service stops both JVMs.
    Logs: workdir/log/{jobmanager,taskmanager}.log. Raises FlinkUnavailable when the
    distribution or the JDK is missing, ClusterExited when a JVM dies during startup.
    """
    if slots < 1:
        raise ValueError(f"slots must be >= 1, got {slots}")
    dist = check_available()
    workdir = Path(workdir).resolve()
    for attempt in range(1, _START_ATTEMPTS + 1):
        layout = ClusterLayout(
            workdir=workdir,
            rest_port=rest_port or free_port(),
            rpc_port=free_port(),
            slots=slots,
            checkpoint_dir=Path(checkpoint_dir) if checkpoint_dir else workdir / "checkpoints",
        )
        try:
            return _start(dist, layout, timeout)
        except ClusterExited as exc:
            # a port we picked can be taken by someone else before the JVM binds it: retry
            # with fresh ones (an explicit rest_port that is taken fails right away)
            if not exc.port_clash or rest_port is not None or attempt == _START_ATTEMPTS:
                raise
            layout.log_dir.rename(workdir / f"log.failed-{attempt}")
    raise AssertionError("unreachable")


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when a loop already runs here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def launch(workdir: Path, *, with_job: bool = False, **options: Any) -> Service:
    """The sandbox launcher entry point (see `launch_cluster` for the options).

    with_job=True also compiles and starts the TA stand-in job and adds its id and fail
    marker to the endpoints ("flink_job_id", "flink_fail_marker"), for the demo.
    """
    service = launch_cluster(workdir, **options)
    if not with_job:
        return service
    try:
        rest_url = service.endpoints["flink_rest"]
        marker = Path(workdir).resolve() / "fail-marker"
        jar = compile_job(workdir)

        async def start() -> str:
            job_id = await submit_job(rest_url, jar, args=job_args(marker))
            await wait_for_running(rest_url, job_id)
            return job_id

        service.endpoints["flink_job_id"] = _run_sync(start())
        service.endpoints["flink_fail_marker"] = str(marker)
    except BaseException:
        service.stop(timeout=10.0)
        raise
    return service
