"""Real Flink tier of the sandbox: a standalone cluster from PyPI apache-flink and a tiny job.

Names are imported lazily so `python -m sandbox.flink.supervise` (the process that owns the
cluster's JVMs) stays a small stdlib-only process.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "launch": "cluster",
    "launch_cluster": "cluster",
    "FlinkUnavailable": "dist",
    "check_available": "dist",
    "DEFAULT_RESTART_ATTEMPTS": "job",
    "FAILURE_MESSAGE": "job",
    "compile_job": "job",
    "job_args": "job",
    "FlinkRestError": "rest",
    "cancel_job": "rest",
    "clear_failure": "rest",
    "get_job": "rest",
    "get_json": "rest",
    "job_metric": "rest",
    "submit_job": "rest",
    "trigger_failure": "rest",
    "wait_for_checkpoint": "rest",
    "wait_for_running": "rest",
    "wait_for_state": "rest",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sandbox.flink' has no attribute {name!r}")
    return getattr(importlib.import_module(f"sandbox.flink.{module}"), name)
