"""Process, port and polling helpers shared by every sandbox service."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Service:
    """One running sandbox process: what `ta-sandbox status` prints and `down` stops."""

    name: str
    pid: int
    endpoints: dict[str, str] = field(default_factory=dict)
    log: str = ""

    def stop(self, timeout: float = 5.0) -> None:
        stop_pid(self.pid, timeout=timeout)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class ExitedError(RuntimeError):
    """A process being waited for has ended: waiting longer cannot help."""


def poll_until(
    check: Callable[[], T | bool | None],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str = "condition",
    fatal: tuple[type[BaseException], ...] = (ExitedError,),
) -> T:
    """Call `check` until it returns something truthy; raise TimeoutError at the deadline.

    Exceptions of the `fatal` types end the wait at once; any other is retried.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            result = check()
            if result:
                return result  # type: ignore[return-value]
        except fatal:
            raise
        except Exception as exc:  # the check may fail while a service starts
            last_exc = exc
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s (last error: {last_exc!r})")
        time.sleep(interval)


async def apoll_until(
    check: Callable[[], Awaitable[T | bool | None]],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Async twin of `poll_until`."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            result = await check()
            if result:
                return result  # type: ignore[return-value]
        except Exception as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s (last error: {last_exc!r})")
        await asyncio.sleep(interval)


SpawnHook = Callable[[str, int, Path], None]
_spawn_hooks: list[SpawnHook] = []


@contextlib.contextmanager
def recording_spawns(hook: SpawnHook) -> Iterator[None]:
    """Call `hook(name, pid, log_path)` for every process `spawn` starts meanwhile, before
    `spawn` returns, with SIGINT/SIGTERM held back until it has run: so an interrupt never
    falls between a process starting and its being recorded."""
    _spawn_hooks.append(hook)
    try:
        yield
    finally:
        _spawn_hooks.remove(hook)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Defer SIGINT/SIGTERM to the end of the block (Python-level: a blocked signal mask would be
    inherited by the child)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda signum, _f: pending.append(signum)) for s in held}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in pending:
            signal.raise_signal(signum)


def spawn(
    args: Sequence[str],
    *,
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a process in its own session (so `down` can end it and its children), output to a log."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    try:
        with _signals_held():
            proc = subprocess.Popen(
                list(args),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
            )
            for hook in list(_spawn_hooks):
                hook(log_path.stem, proc.pid, log_path)
        return proc
    finally:
        log.close()


def wait_started(
    pid: int,
    ready: Callable[[], bool],
    *,
    log: Path,
    what: str,
    timeout: float,
    interval: float = 0.1,
    stop_signal: int = signal.SIGTERM,
) -> None:
    """Poll `ready` until it holds for a process just spawned.

    If the process dies meanwhile the wait ends at once with ExitedError and the log's tail; on
    any failure (death, timeout, interrupt) the process is stopped, so a failed start never
    leaves an unrecorded process running.
    """

    def check() -> bool:
        if not pid_alive(pid):
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ExitedError(f"{what} exited during start; log {log}:\n{tail}")
        return ready()

    try:
        poll_until(check, timeout=timeout, interval=interval, what=f"{what} ready")
    except BaseException:
        stop_pid(pid, sig=stop_signal)
        raise


def python_module_args(module: str, *args: str) -> list[str]:
    """argv for running `python -m module args...` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0); reap it if it is ours
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def stop_pid(pid: int, *, timeout: float = 5.0, sig: int = signal.SIGTERM) -> None:
    """End the process group led by `pid` (SIGTERM, then SIGKILL after `timeout`)."""
    for s in (sig, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, s)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.05)
