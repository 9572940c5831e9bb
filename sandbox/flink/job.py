"""Build the sandbox's stand-in for the torghut-ta job (java/ta/TaJob.java) into a jar.

Job arguments (see the Java source): --fail-marker PATH (required), --restart-attempts N,
--restart-delay-ms MS, --checkpoint-interval-ms MS (0: periodic checkpoints off), --rate PER_SECOND,
--job-name NAME.
While the marker file exists the "ta-indicator" operator throws
"simulated ClickHouse insert failure: No space left on device".
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sandbox.flink.dist import check_available, jdk_tool

JOB_SOURCE_ROOT = Path(__file__).resolve().parent / "java"
JOB_ENTRY_CLASS = "ta.TaJob"
DEFAULT_RESTART_ATTEMPTS = 2
FAILURE_MESSAGE = "simulated ClickHouse insert failure: No space left on device"


# javac and jar are short-lived JVMs: C1 only and the serial GC halve their CPU time
_TOOL_JVM_FLAGS = ["-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC"]
_CACHE_ROOT = Path(tempfile.gettempdir()) / "torghut-ta-ops-flink-job"


def _run(args: list[str], what: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"{what} failed ({result.returncode}):\n{result.stderr or result.stdout}"
        )


def _sources() -> list[Path]:
    sources = sorted(JOB_SOURCE_ROOT.rglob("*.java"))
    if not sources:
        raise FileNotFoundError(f"no Java sources under {JOB_SOURCE_ROOT}")
    return sources


def _cache_key(sources: list[Path], dist_jar: Path) -> str:
    digest = hashlib.sha256(dist_jar.name.encode())
    for src in sources:
        digest.update(src.relative_to(JOB_SOURCE_ROOT).as_posix().encode())
        digest.update(src.read_bytes())
    return digest.hexdigest()[:16]


def _build(sources: list[Path], lib: Path, out: Path) -> Path:
    classes = out / "classes"
    shutil.rmtree(classes, ignore_errors=True)
    classes.mkdir(parents=True)
    javac = [jdk_tool("javac"), *_TOOL_JVM_FLAGS, "--release", "17", "-d", str(classes)]
    _run([*javac, "-cp", f"{lib}/*", *map(str, sources)], "javac")
    jar = out / "ta-job.jar"
    jar.unlink(missing_ok=True)
    _run(
        [
            *[jdk_tool("jar"), *_TOOL_JVM_FLAGS, "--create", "--file", str(jar)],
            *["--main-class", JOB_ENTRY_CLASS, "-C", str(classes), "."],
        ],
        "jar",
    )
    return jar


def compile_job(workdir: Path, *, use_cache: bool = True) -> Path:
    """Compile the job against the distribution's lib/ and return workdir/job/ta-job.jar.

    The jar is cached by source digest in the temp dir, so only the first build pays javac.
    """
    dist = check_available()
    sources = _sources()
    target = Path(workdir).resolve() / "job" / "ta-job.jar"
    target.parent.mkdir(parents=True, exist_ok=True)
    cached = _CACHE_ROOT / _cache_key(sources, dist.dist_jar()) / "ta-job.jar"
    if not (use_cache and cached.is_file()):
        built = _build(sources, dist.lib, target.parent)
        if not use_cache:
            return built
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{os.getpid()}.jar")
        shutil.copyfile(built, tmp)
        tmp.replace(cached)  # atomic: concurrent sessions never see half a jar
        return built
    shutil.copyfile(cached, target)
    return target


def job_args(
    fail_marker: Path,
    *,
    restart_attempts: int = DEFAULT_RESTART_ATTEMPTS,
    restart_delay_ms: int = 500,
    checkpoint_interval_ms: int = 1000,
    rate: float = 50.0,
    job_name: str = "torghut-ta",
) -> list[str]:
    """Program arguments for TaJob."""
    return [
        "--fail-marker",
        str(fail_marker),
        "--restart-attempts",
        str(restart_attempts),
        "--restart-delay-ms",
        str(restart_delay_ms),
        "--checkpoint-interval-ms",
        str(checkpoint_interval_ms),
        "--rate",
        str(rate),
        "--job-name",
        job_name,
    ]
