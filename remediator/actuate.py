"""The real `Actuators`: step names wired to the actuator functions (GitOps first, Argo CD sync,
the operator's reconcile read back, ClickHouse, Events, Alertmanager).

The actuator modules are imported directly, so `mypy --strict` checks every call against their
real signatures (the shared contract is in `remediator/actuators/__init__.py`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from remediator.actuate_replay import ACTS as REPLAY_ACTS
from remediator.actuate_replay import VERIFIES as REPLAY_VERIFIES
from remediator.actuate_replay import ReplayActuation, RunLookup
from remediator.actuators import ActuationError, Fence, Opened
from remediator.actuators import alertmanager as am_actuator
from remediator.actuators import argocd as argocd_actuator
from remediator.actuators import clickhouse as ch_actuator
from remediator.actuators import events as events_actuator
from remediator.actuators import gitops as gitops_actuator
from remediator.actuators import kube as kube_actuator
from remediator.config import RemediatorConfig
from remediator.config_gitops import ArgoConfig, GitOpsConfig
from remediator.execute import VerifyResult
from remediator.facts import Facts
from remediator.journal import Run
from remediator.journal_acting import ApprovalRecord, StepRecord

JOB_FILE = "ta/flinkdeployment.yaml"
TRADING_FILE = "knative-service.yaml"
Edit = Callable[[str], str]


def _unset(key: str) -> ActuationError:
    return ActuationError(f"remediator.{key} is not configured", escalate=True, code="config")


def _gitops(cfg: RemediatorConfig) -> GitOpsConfig:
    if cfg.remediator.gitops is None:
        raise _unset("gitops")
    return cfg.remediator.gitops


def _argocd(cfg: RemediatorConfig) -> ArgoConfig:
    if cfg.remediator.argocd is None:
        raise _unset("argocd")
    return cfg.remediator.argocd


def _bare(table: str) -> str:
    return table.rsplit(".", 1)[-1]


def _reconciled(job: kube_actuator.JobView, state: str) -> bool:
    """The spec says `state`, and a suspend has taken effect: the operator reports the job
    SUSPENDED (its writes stopped) before anything is dropped. A restart is judged by
    verify_job (RUNNING and STABLE)."""
    if job.desired_state != state:
        return False
    return state != "suspended" or job.lifecycle == "SUSPENDED"


class RealActuators:
    def __init__(
        self,
        cfg: RemediatorConfig,
        *,
        facts: Callable[[], Awaitable[Facts]],
        trading_facts: Callable[[], Awaitable[Facts]] | None = None,
        run_of: RunLookup | None = None,
    ) -> None:
        self.cfg = cfg
        self.facts = facts
        # the trading switch alone: pausing trading is checked without waiting out the probes
        # of a ClickHouse or Kafka that is down (each would take its whole probe timeout)
        self.trading_facts = trading_facts or facts
        self.replay = ReplayActuation(self, run_of)  # procedure C and the rollbacks
        self.sleep: Callable[[float], Awaitable[object]] = _sleep
        self.clock: Callable[[], float] = time.monotonic

    # --- the GitOps path -----------------------------------------------------------------

    def _how(self) -> gitops_actuator.How:
        if self.cfg.remediator.mode == "propose":
            return "pull_request"  # a person merges: the merged PR is the approval
        return "push" if _gitops(self.cfg).direct_push else "merge"

    async def _git(
        self,
        run_id: str,
        step: str,
        edits: Mapping[str, Edit],
        title: str,
        fence: Fence,
        opened: Opened | None = None,
    ) -> dict[str, str]:
        section, argocd = _gitops(self.cfg), _argocd(self.cfg)
        how = self._how()
        change = await gitops_actuator.change(
            cfg=section,
            run_id=run_id,
            step=step,
            edits=edits,
            title=title,
            body=f"ta-remediator run {run_id}, step {step}: {title}",
            how=how,
            fence=fence,
        )
        if how == "pull_request" and change.changed and change.merged_sha is None:
            if opened is not None and change.pr_url:
                opened({"branch": str(change.branch), "pr_url": str(change.pr_url)})
            change = await gitops_actuator.wait_merged(
                cfg=section, change=change, timeout=section.merge_timeout
            )
        revision = change.merged_sha or change.commit
        synced = await argocd_actuator.sync(
            cfg=argocd,
            app=argocd.app,
            revision=revision,
            timeout=argocd.sync_timeout,
            fence=fence,
        )
        evidence = {
            "branch": str(change.branch),
            "commit": str(change.commit),
            "changed": str(change.changed).lower(),
            "diff": str(change.diff),
            "synced": synced.revision,
        }
        if change.pr_url:
            evidence["pr_url"] = str(change.pr_url)
        if change.merged_sha:
            evidence["merged_sha"] = str(change.merged_sha)
        return evidence

    async def _job_until(self, ok: Callable[[Any], bool], what: str) -> Any:
        """Poll the FlinkDeployment until the operator reconciled `what` (never Argo's health)."""
        kube, pol = kube_actuator, self.cfg.remediator.policy
        deadline = self.clock() + pol.verify_timeout
        while True:
            job = await kube.read_job(
                cfg=self.cfg, namespace=self.cfg.namespace, name=self.cfg.flink.deployment
            )
            if ok(job):
                return job
            if self.clock() >= deadline:
                raise ActuationError(
                    f"the operator did not reconcile {what} within {pol.verify_timeout:.0f}s "
                    f"(state {job.state}, lifecycle {job.lifecycle}, spec {job.desired_state})",
                    escalate=True,
                    code="timeout",
                )
            await self.sleep(pol.verify_every)

    async def _emergency(self, state: str, bump: bool, fence: Fence) -> dict[str, str]:
        """The emergency merge-patch, only with self-heal off (else Argo CD undoes it at once):
        turned off first and recorded; the caller's git change follows and restores it."""
        kube, argocd = kube_actuator, _argocd(self.cfg)
        try:
            was = await kube.set_self_heal(
                cfg=self.cfg, app=argocd.app, enabled=False, fence=fence, namespace=argocd.namespace
            )
        except ActuationError as exc:
            return {"emergency_patch": f"refused: self-heal could not be turned off ({exc})"}
        await kube.patch_job(
            cfg=self.cfg,
            namespace=self.cfg.namespace,
            name=self.cfg.flink.deployment,
            state=state,
            bump_nonce=bump,
            fence=fence,
        )
        return {
            "emergency_patch": f"spec.job.state={state} patched (drift until the git change)",
            "self_heal_was": str(was).lower(),
        }

    async def _restore_self_heal(self, evidence: dict[str, str], fence: Fence) -> None:
        if evidence.get("self_heal_was") == "true":
            argocd = _argocd(self.cfg)
            await kube_actuator.set_self_heal(
                cfg=self.cfg, app=argocd.app, enabled=True, fence=fence, namespace=argocd.namespace
            )
            evidence["self_heal"] = "restored after the git change synced"

    async def _job_state(
        self, run: Run, step: StepRecord, state: str, fence: Fence
    ) -> dict[str, str]:
        gitops = gitops_actuator
        bump = state == "running"
        evidence: dict[str, str] = {}
        if self.cfg.remediator.policy.emergency_patch and self.cfg.remediator.mode == "auto":
            evidence.update(await self._emergency(state, bump, fence))
        evidence.update(
            await self._git(
                run.id,
                step.name,
                {JOB_FILE: lambda t: gitops.set_job_state(t, state, bump_nonce=bump)},
                f"{self.cfg.flink.deployment}: spec.job.state {state}"
                + (" and a restartNonce bump" if bump else ""),
                fence,
            )
        )
        await self._restore_self_heal(evidence, fence)
        job = await self._job_until(lambda j: _reconciled(j, state), f"spec.job.state {state}")
        evidence["job"] = f"spec {job.desired_state}, state {job.state}, lifecycle {job.lifecycle}"
        return evidence

    # --- Actuators -----------------------------------------------------------------------

    async def act(self, step: StepRecord, *, run: Run, key: str, fence: Fence) -> dict[str, str]:
        try:
            evidence = await self._act(step, run=run, fence=fence)
        except ActuationError as exc:
            await self._event(run, step, f"{step.name} failed: {exc}", "Warning")
            raise
        await self._event(run, step, f"{step.name} done ({key})", "Normal")
        return evidence

    async def _act(self, step: StepRecord, *, run: Run, fence: Fence) -> dict[str, str]:
        t = step.target
        if step.name == "pause_trading":
            edit = gitops_actuator.set_env
            return await self._git(
                run.id,
                step.name,
                {TRADING_FILE: lambda text: edit(text, "TRADING_ENABLED", "false")},
                "pause trading: TRADING_ENABLED=false (the TA job is stopped or restarted)",
                fence,
            )
        if step.name == "suspend_job":
            return await self._job_state(run, step, "suspended", fence)
        if step.name == "resume_job":
            return await self._job_state(run, step, "running", fence)
        if step.name in REPLAY_ACTS:
            return await self.replay.act(step, run=run, fence=fence)
        ch = ch_actuator
        replica = t.get("replica") or self.cfg.clickhouse.replicas[0].name
        if step.name == "drop_partition":
            await ch.drop_partition(
                cfg=self.cfg,
                replica=replica,
                table=_bare(t["table"]),
                partition=t["partition"],
                fence=fence,
            )
            return {"dropped": f"{t['table']} partition {t['partition']} ({t.get('bytes')} bytes)"}
        if step.name in ("restart_replica", "restore_replica"):
            call = getattr(ch, step.name)
            await call(cfg=self.cfg, replica=replica, table=_bare(t["table"]), fence=fence)
            return {
                "issued": f"SYSTEM {step.name.split('_')[0].upper()} REPLICA {t['table']} on {replica}"
            }
        raise ActuationError(f"no actuator for step {step.name!r}", escalate=True, code="unknown")

    async def already_done(self, step: StepRecord, *, run: Run) -> bool | None:
        if step.name in REPLAY_ACTS:
            return await self.replay.already_done(step, run=run)
        try:
            if step.name in ("suspend_job", "resume_job"):
                job = await kube_actuator.read_job(
                    cfg=self.cfg, namespace=self.cfg.namespace, name=self.cfg.flink.deployment
                )
                want = "suspended" if step.name == "suspend_job" else "running"
                return _reconciled(job, want)
            if step.name == "restart_replica":
                return False  # repeating a restart is safe
            if step.name == "restore_replica":
                lost = await ch_actuator.readonly_replicas(cfg=self.cfg)
                return (step.target.get("replica"), _bare(step.target["table"])) not in lost
            if step.name == "pause_trading":
                on = (await self.trading_facts()).trading_enabled
                return None if on is None else not on
            facts = await self.facts()
        except ActuationError:
            return None
        if step.name == "drop_partition":
            if any(p.startswith("clickhouse_storage/") for p in facts.unreadable):
                return None
            key = (_bare(step.target["table"]), step.target["partition"])
            return all((p.table, p.partition) != key for p in facts.partitions)
        return None

    async def verify(self, step: StepRecord, *, run: Run) -> VerifyResult:
        if step.name in REPLAY_VERIFIES:
            return await self.replay.verify(step, run=run)
        if step.name == "verify_job":
            try:
                job = await kube_actuator.read_job(
                    cfg=self.cfg, namespace=self.cfg.namespace, name=self.cfg.flink.deployment
                )
            except ActuationError as exc:
                return VerifyResult(None, f"FlinkDeployment unreadable: {exc}")
            ok = job.state == "RUNNING" and job.lifecycle == "STABLE"
            return VerifyResult(ok, f"state {job.state}, lifecycle {job.lifecycle}")
        if step.name == "verify_writable":
            try:
                lost = await ch_actuator.readonly_replicas(cfg=self.cfg)
            except ActuationError as exc:
                return VerifyResult(None, f"system.replicas unreadable: {exc}")
            return VerifyResult(not lost, f"read-only: {lost}" if lost else "every table writable")
        if step.name == "verify_trading_paused":
            on = (await self.trading_facts()).trading_enabled
            return VerifyResult(None if on is None else not on, f"trading enabled: {on}")
        facts = await self.facts()
        component = {
            "verify_freshness": "freshness",
            "verify_disk": "clickhouse-disk",
            "verify_api": "api",
        }.get(step.name)
        if component is None:
            return VerifyResult(None, f"no check for {step.name!r}")
        status = facts.status(component)
        verdict = facts.verdicts.get(component)
        detail = f"{component} {status}: {verdict.summary if verdict else 'no data'}"
        return VerifyResult(None if status == "unknown" else status == "healthy", detail)

    async def _event(self, run: Run, step: StepRecord, message: str, type: str) -> None:
        await events_actuator.record(
            cfg=self.cfg,
            namespace=self.cfg.namespace,
            name=self.cfg.flink.deployment,
            reason=f"TARemediation{''.join(w.title() for w in step.name.split('_'))}",
            message=f"run {run.id}: {message}"[:1024],
            type=type,
        )

    async def _post(self, builder: str, run: Run, reason: str) -> None:
        am = am_actuator
        alert = getattr(am, builder)(run.id, run.procedure, run.target, reason, self._run_url(run))
        await am.post(cfg=self.cfg, alerts=[alert])

    def _run_url(self, run: Run) -> str:
        """The run in the API, absolute (Alertmanager refuses a relative generatorURL)."""
        am, listen = self.cfg.remediator.alertmanager, self.cfg.remediator.listen
        if am is not None and am.run_url_base is not None:
            base = str(am.run_url_base).rstrip("/")
        else:
            host = "127.0.0.1" if listen.host in ("0.0.0.0", "::", "") else listen.host
            base = f"http://{host}:{listen.port}"
        return f"{base}/runs/{run.id}"

    async def escalate(self, run: Run, reason: str) -> None:
        await self._post("remediation_failed", run, reason)

    async def request_approval(self, run: Run, approval: ApprovalRecord, summary: str) -> None:
        await self._post("awaiting_approval", run, summary)

    async def succeeded(self, run: Run, summary: str) -> None:
        await self._post("resolved_by_remediation", run, summary)

    async def resume_trading(
        self, *, who: str, reason: str, fence: Fence, opened: Opened | None = None
    ) -> dict[str, str]:
        edit = gitops_actuator.set_env
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return await self._git(
            f"trading-resume-{stamp}",
            "resume_trading",
            {TRADING_FILE: lambda text: edit(text, "TRADING_ENABLED", "true")},
            f"resume trading: TRADING_ENABLED=true, decided by {who}: {reason}",
            fence,
            opened,
        )


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
