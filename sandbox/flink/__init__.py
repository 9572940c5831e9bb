"""Real Flink tier of the sandbox: a standalone cluster from PyPI apache-flink and a tiny job."""

from sandbox.flink.cluster import launch, launch_cluster
from sandbox.flink.dist import FlinkUnavailable, check_available
from sandbox.flink.job import FAILURE_MESSAGE, compile_job, job_args
from sandbox.flink.rest import (
    FlinkRestError,
    cancel_job,
    clear_failure,
    get_job,
    get_json,
    job_metric,
    submit_job,
    trigger_failure,
    wait_for_checkpoint,
    wait_for_running,
    wait_for_state,
)

__all__ = [
    "FAILURE_MESSAGE",
    "FlinkRestError",
    "FlinkUnavailable",
    "cancel_job",
    "check_available",
    "clear_failure",
    "compile_job",
    "get_job",
    "get_json",
    "job_args",
    "job_metric",
    "launch",
    "launch_cluster",
    "submit_job",
    "trigger_failure",
    "wait_for_checkpoint",
    "wait_for_running",
    "wait_for_state",
]
