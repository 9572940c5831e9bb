"""The report's `clickhouse-replicas` verdict: a Keeper outage, lost Keeper metadata (Procedure
B) and other read-only tables are told apart; configured tables missing from system.replicas are
reported."""

from __future__ import annotations

from dataclasses import replace

from exporter.config import Config
from exporter.evidence import evidence_of, metric, probe_data, series_of
from exporter.snapshot import Series, View
from exporter.verdict import Evidence, Verdict


def judge_replicas(view: View, cfg: Config) -> Verdict:
    """The `clickhouse-replicas` verdict."""
    verdict = _replicas_verdict(view, cfg)
    absent = _not_replicated(view)
    if not absent:
        return verdict
    details = {**verdict.details, "not_in_system_replicas": ", ".join(absent)}
    if verdict.status == "healthy":
        summary = (
            f"configured tables missing from system.replicas: {details['not_in_system_replicas']}"
        )
        return replace(verdict, status="degraded", summary=summary, details=details)
    return replace(verdict, details=details)


def _not_replicated(view: View) -> list[str]:
    """replica/table of configured tables missing from system.replicas on a replica that has
    other replicated tables (a replica with none is a non-replicated setup)."""
    names = sorted(n for n in view.probes if n.startswith("clickhouse_replicas"))
    return sorted(
        f"{d.replica}/{t}"
        for d in (probe_data(view, n) for n in names)
        if d is not None and d.rows
        for t in d.missing
    )


def _replicas_verdict(view: View, cfg: Config) -> Verdict:
    readonly = [s for s in series_of(view, "clickhouse_replica_readonly") if s.value >= 1]
    keeper = [s for s in series_of(view, "clickhouse_replica_keeper_unreachable") if s.value >= 1]
    lost = [s for s in series_of(view, "clickhouse_replica_metadata_lost") if s.value >= 1]
    delays = series_of(view, "clickhouse_replica_delay_seconds")

    def where(series: list[Series]) -> str:
        return ", ".join(sorted({f"{s.labels['replica']}/{s.labels['table']}" for s in series}))

    def ev(name: str, series: list[Series]) -> tuple[Evidence, ...]:
        return tuple(evidence_of(view, metric(name), s) for s in series)

    if keeper:  # Keeper itself is down: SYSTEM RESTORE REPLICA would be wrong, restore Keeper
        return Verdict(
            "clickhouse-replicas",
            "down",
            f"Keeper unavailable (session expired or connection lost): {where(keeper)}; "
            "not Procedure B: bring Keeper back",
            "none",
            ev("clickhouse_replica_keeper_unreachable", keeper)
            + ev("clickhouse_replica_readonly", readonly),
        )
    lost_ro = [s for s in readonly if any(s.labels == m.labels for m in lost)]
    if lost_ro:
        return Verdict(
            "clickhouse-replicas",
            "down",
            f"Keeper metadata lost, read-only: {where(lost_ro)}",
            "B",
            ev("clickhouse_replica_metadata_lost", lost)
            + ev("clickhouse_replica_readonly", lost_ro),
        )
    if readonly:
        return Verdict(
            "clickhouse-replicas",
            "down",
            f"read-only, no sign of lost Keeper metadata: {where(readonly)}",
            "none",
            ev("clickhouse_replica_readonly", readonly),
        )
    lagging = [s for s in delays if s.value > cfg.report.freshness]
    if lagging:
        return Verdict(
            "clickhouse-replicas",
            "degraded",
            "replication delay above threshold",
            "none",
            ev("clickhouse_replica_delay_seconds", lagging),
        )
    if series_of(view, "clickhouse_replica_readonly"):
        return Verdict("clickhouse-replicas", "healthy", "all replicas writable")
    probes = {n: p for n, p in view.probes.items() if n.startswith("clickhouse_replicas")}
    answered = [p for p in probes.values() if p.success]
    if answered and not any(n in view.stale for n in probes):
        return Verdict("clickhouse-replicas", "healthy", "no replicated tables configured")
    return Verdict("clickhouse-replicas", "unknown", "no replica data")
