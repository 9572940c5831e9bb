"""`remediator.replay`: procedure C's settings (a replay is started by a person, never by an
alert)."""

from __future__ import annotations

from pydantic import Field

from exporter.config_types import Duration, Model


class ReplayConfig(Model):
    # who reads the output topics (TA_SIGNALS_TOPIC, TA_MICROBARS_TOPIC): the plan lists them,
    # since they receive the replayed records again
    output_consumers: list[str] = Field(default_factory=list)
    # the replay group's silences last this long at most (removed when the replay ends)
    silence_for: Duration = 6 * 3600.0
    # how long the replay may take to catch up with the end of its window before it escalates
    catch_up_timeout: Duration = 4 * 3600.0
    # the input rate over this stretch before the plan is the throughput the estimate uses
    rate_window: Duration = 900.0
    # the output table whose window is checked for rewritten rows without duplicates
    verify_table: str = "ta_signals"
