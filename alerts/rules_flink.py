"""The Flink job's alerts: failed (Procedure A or a person), not running, checkpoints, storage."""

from __future__ import annotations

from alerts.common import alert, labels
from alerts.model import Alert, Group
from alerts.scope import Scope
from alerts.thresholds import Thresholds, human


def _failed(s: Scope) -> str:
    return f"""
    {s.x("torghut_ta_flink_job_state", 'state="FAILED"')} == 1
  or
    {s.x("torghut_ta_flink_lifecycle_state", 'state="FAILED"')} == 1
"""


def _job_failed(s: Scope, t: Thresholds) -> tuple[Alert, Alert]:
    """The same FAILED job, split by the install's fullest disk: Procedure A, or a person."""
    failed = f"max {s.by('deployment')} ({_failed(s).rstrip()}\n)"
    # The raw ratio, not torghut_ta:clickhouse_disk_free_ratio: that is recorded in the
    # ClickHouse group, which this group would read one evaluation late.
    ratio = (
        f"{s.x('torghut_ta_clickhouse_disk_free_bytes')} / "
        f"{s.x('torghut_ta_clickhouse_disk_total_bytes')}"
    )
    disk = f"(\n  min {s.by()} ({ratio})\n  < {t.disk_free_ratio_min}\n)"
    pct = f"{t.disk_free_ratio_min:.0%}"
    fullest = s.tmpl_query(
        "min(torghut_ta_clickhouse_disk_free_bytes{SEL} / torghut_ta_clickhouse_disk_total_bytes{SEL})"
    )
    return (
        _failed_alert(
            f"{failed}\nand {s.on()}\n{disk}\n",
            ("A", "auto"),
            "while ClickHouse is out of disk",
            f"""
and the fullest ClickHouse disk has
{{{{ with {fullest} }}}}{{{{ . | first | value | humanizePercentage }}}}{{{{ end }}}}
free. This is Procedure A: suspend the job, drop old partitions, restart it.
""",
            comment=(
                "Procedure A covers a job that failed because ClickHouse ran out of disk. A rule's\n"
                "labels are static, so the cause is decided by two rules that exclude each other:\n"
                f"with any ClickHouse disk of the same install under {pct} free the failure is\n"
                "Procedure A, otherwise it needs a person."
            ),
        ),
        _failed_alert(
            f"{failed}\nunless {s.on()}\n{disk}\n",
            ("none", "manual"),
            "(cause not ClickHouse disk)",
            f"""
and no ClickHouse disk is under {pct} free, or disk metrics are missing, so the cause is
unknown and a person must look at the job's exceptions.
""",
        ),
    )


def _failed_alert(
    expr: str, procedure: tuple[str, str], cause: str, detail: str, comment: str = ""
) -> Alert:
    """One of the two TAFlinkJobFailed rules: `procedure` is (procedure, remediation)."""
    return alert(
        "TAFlinkJobFailed",
        expr,
        for_="2m",
        labels=labels("critical", "flink", *procedure),
        summary=f"Flink job {{{{ $labels.deployment }}}} FAILED {cause}",
        description="FlinkDeployment {{ $labels.deployment }} reports FAILED (job or lifecycle state)\n"
        + detail,
        comment=comment,
    )


def group(s: Scope, t: Thresholds) -> Group:
    running = s.x("torghut_ta_flink_job_state", 'state="RUNNING"')
    ckpt = s.x("torghut_ta_flink_last_checkpoint_timestamp_seconds")
    n, floor, unknown = (
        t.checkpoint_intervals,
        t.checkpoint_min_seconds,
        t.checkpoint_unknown_interval_seconds,
    )
    return Group(
        name="torghut-ta-flink",
        rules=(
            *_job_failed(s, t),
            alert(
                "TAFlinkJobNotRunning",
                f"""
{s.x("torghut_ta_flink_job_desired_running")} == 1
unless {s.on("deployment")}
({running} == 1)
unless {s.on("deployment")}
({_failed(s)})
""",
                for_="10m",
                labels=labels("critical", "flink", "none", "manual"),
                summary="Flink job {{ $labels.deployment }} should run but has not been RUNNING for 10m",
                description=f"""
spec.job.state of FlinkDeployment {{{{ $labels.deployment }}}} is running, but its job
state has been
{{{{ with {s.tmpl_query("torghut_ta_flink_job_state{SEL} == 1", "deployment")} }}}}{{{{ . | first | label "state" }}}}{{{{ else }}}}unknown{{{{ end }}}}
rather than RUNNING for at least 10 minutes.
""",
                comment=(
                    "A FAILED job is TAFlinkJobFailed's business; this one catches every other way of not\n"
                    "running (stuck in CREATED/RESTARTING, suspended by hand while the spec says running...)."
                ),
            ),
            alert(
                "TAFlinkCheckpointStale",
                f"""
(
    (time() - {ckpt})
  or
    (
      time() - {s.x("torghut_ta_flink_job_start_timestamp_seconds")}
      unless {s.on("deployment")}
      {ckpt}
    )
)
> {s.on("deployment")} group_left ()
(
    clamp_min({n} * max {s.by("deployment")} ({s.x("torghut_ta_flink_checkpoint_interval_seconds")}), {floor})
  or
    {unknown} + 0 * max {s.by("deployment")} ({running})
)
and {s.on("deployment")}
({running} == 1)
""",
                for_="2m",
                labels=labels("warning", "flink", "none", "manual"),
                summary="Flink job {{ $labels.deployment }} has not completed a checkpoint for {{ $value | humanizeDuration }}",
                description=f"""
The job of {{{{ $labels.deployment }}}} is RUNNING but
{{{{ with {s.tmpl_query("torghut_ta_flink_last_checkpoint_timestamp_seconds{SEL}", "deployment")} }}}}its latest completed checkpoint is {{{{ $value | humanizeDuration }}}} old{{{{ else }}}}no checkpoint has completed since it started {{{{ $value | humanizeDuration }}}} ago{{{{ end }}}}
(threshold
{{{{ with {s.tmpl_query(f"clamp_min({n} * max(torghut_ta_flink_checkpoint_interval_seconds{{SEL}}), {floor})", "deployment")} }}}}{{{{ . | first | value | humanizeDuration }}}}: {n} checkpoint intervals, at least {human(floor)}{{{{ else }}}}{human(unknown)}: the checkpoint interval is unknown{{{{ end }}}}).
A restart now would restore old state and replay from old offsets.
""",
                comment=(
                    f'"No completed checkpoint for N intervals", N = {n}, whatever the job\'s interval is:\n'
                    "- age = now - last completed checkpoint; while none ever completed (the broken-S3 case:\n"
                    "  no last-checkpoint series at all), now - the job's start time;\n"
                    f"- threshold = {n} x torghut_ta_flink_checkpoint_interval_seconds (exported by the\n"
                    f"  exporter from the job's config), at least {human(floor)} (the exporter's view lags by up to\n"
                    f"  a probe staleness, 2m by default); when the interval is unknown (periodic checkpoints\n"
                    f"  off, or not reported) {human(unknown)}, so unknown still alerts."
                ),
            ),
            alert(
                "TACheckpointStorageDown",
                f"""
({s.x("torghut_ta_checkpoint_storage_up")} == 0)
or
(
  {s.x("torghut_ta_probe_success", 'probe="checkpoint_storage"')} == 0
  unless {s.on("job", "instance")}
  {s.x("torghut_ta_checkpoint_storage_up")}
)
""",
                for_="5m",
                labels=labels("warning", "flink", "none", "manual"),
                summary="Checkpoint storage of {{ with $labels.deployment }}{{ . }}{{ else }}the Flink job{{ end }} is down or unknown",
                description="""
{{ with $labels.deployment }}The S3 bucket/prefix of state.checkpoints.dir of FlinkDeployment {{ . }} has not answered for 5 minutes.{{ else }}The checkpoint_storage probe of {{ $labels.instance }} has failed for 5 minutes and its storage series are gone: checkpoint storage is unknown.{{ end }}
Checkpoints and savepoints fail or cannot be checked: a restart or upgrade now may
lose state.
""",
                comment=(
                    "Storage that says no (up == 0), or a storage probe that cannot say anything: its series\n"
                    "are gone (past staleness) while it keeps failing (no dir configured, Kubernetes, an S3\n"
                    "error mid-walk). Either way checkpoints and savepoints cannot be trusted."
                ),
            ),
        ),
    )
