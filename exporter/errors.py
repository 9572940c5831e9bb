"""Errors shared by clients and probes (clients may not import probes)."""

from __future__ import annotations


class ProbeError(Exception):
    """A failure whose message is already fit for operators; the scheduler shows it verbatim.

    Example: `raise ProbeError("ClickHouse r1: Code: 60. DB::Exception: ... (UNKNOWN_TABLE)")`.
    Other exceptions are described by `exporter.scheduler.describe_error`.
    """
