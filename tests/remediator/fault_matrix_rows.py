"""The fault matrix's rows as documented in docs/reliability.md: what each injects, how, and
what must follow (`outcome`: the run's expected outcome; "failed" also means paged). The drivers
that carry them out are in `test_e2e_fault_matrix.py` (DRIVERS), or in the module a row names
(`module`); the rows not built yet are listed in UNTESTED as such, never faked."""

from __future__ import annotations

from fault_matrix_doc import RowSpec, Untested

ROWS = [
    RowSpec(
        "clickhouse-stopped",
        "succeeded",
        "ClickHouse stopped mid-step",
        "SIGSTOP of the chdb server(s) while pause_trading acts; SIGCONT once it is done",
        "succeeded, one commit, no page (the gate's step needs no ClickHouse)",
    ),
    RowSpec(
        "clickhouse-stopped-in-drop",
        "failed",
        "ClickHouse stopped during a DROP PARTITION (procedure A)",
        "A-full (disk full, job failed) through the real Alertmanager; the remediator reaches "
        "ClickHouse through a proxy that SIGSTOPs the chdb server as the DROP PARTITION "
        "arrives, then forwards it; SIGCONT once the run ended (the remediation identity's "
        "query_timeout is 8 s here)",
        "no crash; drop_partition fails after its 3 attempts (network errors are retried, "
        "each re-reads system.parts first; each failure a Warning Event); the run fails and "
        "pages naming drop_partition, chi-0 and every attempt (the first sent the DROP); the "
        "job stays suspended, trading paused, resume_job never runs; one DROP statement "
        "reached ClickHouse, the other partitions stay",
        module="tests/remediator/test_e2e_procedure_a.py",
    ),
    RowSpec(
        "kafka-stopped",
        "succeeded",
        "Kafka stopped mid-step",
        "SIGSTOP of the broker while pause_trading acts; SIGCONT once it is done",
        "succeeded, one commit, no page",
    ),
    RowSpec(
        "kube-500-lease",
        "succeeded",
        "Kubernetes API 500s",
        "stand-in fault hook: the next 2 PUTs of leases answer 500 (Lease renewals) "
        "while the step acts",
        "succeeded, one commit, no page",
    ),
    RowSpec(
        "kube-500-events",
        "succeeded",
        "Kubernetes API 500s on the evidence",
        "stand-in fault hook: the next 3 POSTs of events answer 500",
        "succeeded, one commit, no page; the Event is lost, never the run",
    ),
    RowSpec(
        "kube-timeout",
        "succeeded",
        "Kubernetes API timeouts",
        "stand-in fault hook: the next PUT of leases hangs 8 s (client deadline 5 s) "
        "while the step acts",
        "succeeded, one commit, no page",
    ),
    RowSpec(
        "kube-409",
        "succeeded",
        "Kubernetes API 409 conflicts",
        "stand-in fault hook: the next 2 PUTs of leases answer 409 while the step acts",
        "succeeded, one commit, no page",
    ),
    RowSpec(
        "kube-403-role",
        "succeeded",
        "Kubernetes API 403 from a narrowed Role",
        "the remediator's Role in the pipeline namespace edited without `create` on "
        "events (real RBAC of the stand-in); restored after",
        "succeeded, one commit, no page, no Event (evidence is best effort)",
    ),
    RowSpec(
        "git-push-rejected",
        "failed",
        "git push rejected",
        "a pre-receive hook in the git remote refuses every push",
        "failed at once (a refusal is not retried), no commit, TARemediationFailed",
    ),
    RowSpec(
        "github-blip",
        "succeeded",
        "PR API down (one 503)",
        "GitHub stand-in outage: the next request answers 503",
        "succeeded, one commit, no page (retried)",
    ),
    RowSpec(
        "github-down",
        "failed",
        "PR API down",
        "GitHub stand-in outage: every request answers 502 until lifted",
        "failed after the step's attempts, TARemediationFailed",
    ),
    RowSpec(
        "github-rate-limited",
        "succeeded",
        "PR API rate-limited",
        "GitHub stand-in secondary rate limit: the next request gets 403 with "
        "retry-after: 2 and GitHub's headers",
        "succeeded, one commit, no page (waited, retried)",
    ),
    RowSpec(
        "github-primary-limit",
        "failed",
        "PR API rate-limited: primary budget spent",
        "GitHub stand-in primary rate limit: remaining 0, reset in 1 h (403 with "
        "x-ratelimit-remaining: 0 and x-ratelimit-reset)",
        "failed after the step's attempts, naming the limit and its reset time; "
        "TARemediationFailed",
    ),
    RowSpec(
        "argocd-sync-hang",
        "failed",
        "Argo CD sync hanging",
        "stand-in Argo CD fault `hang`; the remediator's argocd.sync_timeout is 20 s here",
        "failed, at most one commit (merged, not synced), TARemediationFailed",
    ),
    RowSpec(
        "argocd-sync-fail",
        "failed",
        "Argo CD sync failing",
        "stand-in Argo CD fault `fail`",
        "failed, at most one commit, TARemediationFailed",
    ),
    RowSpec(
        "am-duplicates",
        "succeeded",
        "Alertmanager sending duplicates",
        "the same webhook notification posted 3 times to the remediator",
        "one run, succeeded, one commit, no page",
    ),
    RowSpec(
        "am-out-of-order",
        "succeeded",
        "Alertmanager out of order",
        "the same alert posted again with an earlier startsAt after the newer one",
        "one run, succeeded, one commit, no page",
    ),
    RowSpec(
        "am-resolved-first",
        "succeeded",
        "Alertmanager: resolved before its firing",
        "a resolved notification for an alert never seen, then its firing",
        "no run for the resolved; one run for the firing, succeeded, one commit, no page",
    ),
    RowSpec(
        "sigkill-before-verify",
        "succeeded",
        "remediator SIGKILLed between actuation and verification",
        "SIGKILL once verification has begun (held: 503 on GET of the trading service, "
        "so it cannot pass first), then `serve` again and the hold lifted",
        "the run resumes at verification, succeeded, one commit, no page",
    ),
    RowSpec(
        "exporter-restarted",
        "succeeded",
        "the exporter restarted",
        "the exporter process stopped and started again (same port and config) while "
        "pause_trading acts",
        "succeeded, one commit, no page",
    ),
    RowSpec(
        "second-remediator",
        "succeeded",
        "a second remediator starting mid-run",
        "`serve` with another identity, journal and port started while the step acts,"
        " given the same alert",
        "only the Lease holder acts; succeeded, one commit, no page",
    ),
    RowSpec(
        "journal-disk-full",
        "succeeded",
        "the journal's disk full",
        "RLIMIT_FSIZE of 1 byte set on the running remediator with prlimit(2): writes"
        " fail with EFBIG (not ENOSPC: no per-row tmpfs)",
        "webhook answered 503 (Alertmanager retries), /healthz answers, no journal "
        "entry lost; once lifted the retry opens the run, succeeded, one commit, no "
        "page",
    ),
    RowSpec(
        "clock-jump",
        "succeeded",
        "the clock jumping forward and back",
        "libfaketime preloaded into the remediator alone (wall clock from a file, "
        "monotonic real): +1 h while pause_trading acts, then to -1 h once it is done; "
        "verification held meanwhile (503 on GET of the trading service), lifted once the "
        "remediator read the service after the jump back",
        "the Lease kept (monotonic), the journal keeps the jumped wall times; "
        "succeeded, one commit, no page",
    ),
    RowSpec(
        "clock-jump-past-silence",
        "succeeded",
        "the clock jumping forward past policy.alerts_silent_after while a run that acted is open",
        "libfaketime: +1 h (alerts_silent_after 120 s here, 2 h shipped: the sweep runs every "
        "30 s instead of 60 s) while verify_trading_paused waits (held: 503 on GET of the "
        "trading service; verify_timeout 600 s) next to an open run that never acted "
        "(procedure A refused at triage, its alert posted straight to the webhook); once the "
        "sweep after the jump ended that one, the clock stepped back and the hold lifted",
        "the sweep presumes only the never-acted run resolved (silent over 0.9 h: the jump); "
        "the acted run, as silent, stays open and ends through its executor: succeeded, one "
        "commit, no page",
    ),
    RowSpec(
        "clock-forward-in-verify",
        "succeeded",
        "the clock jumping forward during verification",
        "libfaketime: +1 h while verify_trading_paused waits (held: 503 on GET of the "
        "trading service); the hold lifted once the remediator checked again after the jump",
        "verification runs to its real deadline (60 s): succeeded, one commit, no page",
    ),
]

UNTESTED: list[Untested] = []
