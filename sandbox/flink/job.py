"""Build the sandbox's stand-in for the torghut-ta job (java/ta/TaJob.java) into a jar.

Job arguments (see the Java source): --fail-marker PATH (required), --restart-attempts N,
--restart-delay-ms MS, --checkpoint-interval-ms MS, --rate PER_SECOND, --job-name NAME.
While the marker file exists the "ta-indicator" operator throws
"simulated ClickHouse insert failure: No space left on device".
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from sandbox.flink.dist import check_available, jdk_tool

JOB_SOURCE_ROOT = Path(__file__).resolve().parent / "java"
JOB_ENTRY_CLASS = "ta.TaJob"
FAILURE_MESSAGE = "simulated ClickHouse insert failure: No space left on device"


def _run(args: list[str], what: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"{what} failed ({result.returncode}):\n{result.stderr or result.stdout}"
        )


def compile_job(workdir: Path) -> Path:
    """Compile the job against the distribution's lib/ and return workdir/job/ta-job.jar."""
    dist = check_available()
    sources = sorted(str(p) for p in JOB_SOURCE_ROOT.rglob("*.java"))
    if not sources:
        raise FileNotFoundError(f"no Java sources under {JOB_SOURCE_ROOT}")
    out = Path(workdir).resolve() / "job"
    classes = out / "classes"
    classes.mkdir(parents=True, exist_ok=True)
    _run(
        [
            jdk_tool("javac"),
            "--release",
            "17",
            "-d",
            str(classes),
            "-cp",
            f"{dist.lib}/*",
            *sources,
        ],
        "javac",
    )
    jar = out / "ta-job.jar"
    jar.unlink(missing_ok=True)
    _run(
        [
            jdk_tool("jar"),
            "--create",
            "--file",
            str(jar),
            "--main-class",
            JOB_ENTRY_CLASS,
            "-C",
            str(classes),
            ".",
        ],
        "jar",
    )
    return jar


def job_args(
    fail_marker: Path,
    *,
    restart_attempts: int = 2,
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
