"""The monitoring's own health: the exporter (probes, scrapes) and the remediator."""

from __future__ import annotations

from alerts.common import REMEDIATION, alert, labels
from alerts.model import Group
from alerts.scope import Scope


def exporter(s: Scope) -> Group:
    return Group(
        name="torghut-ta-exporter",
        rules=(
            alert(
                "TAExporterProbeFailing",
                f"{s.x('torghut_ta_probe_success')} == 0",
                for_="5m",
                labels=labels("warning", "exporter", "none", "manual"),
                summary="Exporter probe {{ $labels.probe }} has been failing for 5m",
                description=f"""
The {{{{ $labels.probe }}}} probe of {{{{ $labels.instance }}}} has failed for at least 5
minutes; its last success was
{{{{ with {s.tmpl_query("time() - torghut_ta_probe_last_success_timestamp_seconds{SEL}", "probe", "instance")} }}}}{{{{ . | first | value | humanizeDuration }}}} ago{{{{ else }}}}never seen{{{{ end }}}}.
Alerts built on its metrics are blind meanwhile.
""",
            ),
            alert(
                "TAExporterDown",
                f"({s.x('up')} == 0)\nor\nabsent({s.x('up')})\n",
                for_="5m",
                labels=labels("critical", "exporter", "none", "manual"),
                summary="The torghut-ta exporter is not being scraped",
                description=f"""
{{{{ with $labels.instance }}}}Prometheus has failed to scrape {{{{ . }}}} for 5 minutes.{{{{ else }}}}Prometheus has had no scrape target with {s.exporter} for 5 minutes.{{{{ end }}}}
Every other TA alert is blind until it is back.
""",
                comment=(
                    'The exporter selector (job="torghut-ta-exporter" by default) is a convention the\n'
                    "ServiceMonitor (jobLabel) and the sandbox's scrape config keep; see alerts/README.md."
                ),
            ),
        ),
    )


def remediator(s: Scope) -> Group:
    failed = "alertmanager_notifications_failed_total"
    return Group(
        name="torghut-ta-remediator",
        comment=(
            "The remediator itself. Scoped to installs that run it: a target that was never scraped is\n"
            'no remediator, not a down one (the chart\'s ServiceMonitor forces job="torghut-ta-remediator";\n'
            "see alerts/README.md). After a day without any target it is taken as uninstalled."
        ),
        rules=(
            alert(
                "TARemediatorDown",
                f"""
({s.r("up")} == 0)
or
(
  absent({s.r("up")})
  and on ()
  group(last_over_time({s.r("up")}[1d]))
)
""",
                for_="5m",
                labels=labels("warning", "remediator", "none", "manual"),
                summary="The torghut-ta remediator is down",
                description=f"""
{{{{ with $labels.instance }}}}Prometheus has failed to scrape the remediator at {{{{ . }}}} for 5 minutes.{{{{ else }}}}The remediator ({s.remediator}) was scraped within the last day but has had no scrape target for 5 minutes.{{{{ end }}}}
Alerts for procedures A and B reach no remediator: nothing is remediated
automatically and notifications to it fail; people are still paged.
""",
                dashboard=REMEDIATION,
            ),
            alert(
                "TARemediatorWebhookFailing",
                f"""
(
  sum without (code, reason) (
    increase({failed}{{integration="webhook", receiver_name=~"(.+/)?torghut-ta-remediator"}}[15m])
  ) > 0
)
or
(
  sum without (code, reason) (
    increase({failed}{{integration="webhook", receiver_name=""}}[15m])
  ) > 0
  and on ()
  group({s.r("up")})
)
""",
                labels=labels("warning", "remediator", "none", "manual"),
                summary="Alertmanager fails to deliver notifications to the remediator",
                description="""
Alertmanager {{ $labels.instance }} failed {{ printf "%.0f" $value }} webhook
notification(s) in the last 15 minutes{{ with $labels.receiver_name }} to receiver {{ . }}{{ else }} (this Alertmanager does not name the receiver: the remediator's or another webhook){{ end }}.
A 401 is never retried: when Alertmanager's webhook token is not the remediator's,
every notification is dropped and no procedure runs.
""",
                dashboard=REMEDIATION,
                comment=(
                    "Alertmanager retries only 5xx: a 401 (its webhook token is not the remediator's) drops\n"
                    "the notification at once, every time. Alertmanager versions that label the counter with\n"
                    "receiver_name are matched exactly (an AlertmanagerConfig receiver is prefixed with\n"
                    'namespace/name/); older ones only say integration="webhook", so any webhook receiver\'s\n'
                    "failures count there, and only while a remediator is scraped. Alertmanager's series\n"
                    "carry Alertmanager's own install labels, not the remediator's: the one join that stays\n"
                    "`on ()` (the remediator selector still scopes its side)."
                ),
            ),
        ),
    )
