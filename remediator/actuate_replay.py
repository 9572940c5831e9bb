"""Procedure C's steps (and the rollbacks') wired to the actuators: GitOps edits of
`ta/configmap.yaml` and `ta/flinkdeployment.yaml` in one change, the Argo CD sync, the operator's
restart read back, Kafka offsets, ClickHouse rows, Alertmanager silences.

Values a later step needs (the steady-state group's committed offsets, the silence ids) come
from the evidence an earlier step journaled, or, in a rollback run, from its step's target.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from remediator.actuators import ActuationError, Fence, kafka_offsets
from remediator.actuators import alertmanager as am
from remediator.actuators import clickhouse_replay as ch_replay
from remediator.actuators import kube as kube_actuator
from remediator.actuators import replay_edits as edits
from remediator.execute import VerifyResult
from remediator.journal import Run
from remediator.journal_acting import StepRecord
from remediator.replay_sources import GROUP_KEY, START_KEY, steady_state

if TYPE_CHECKING:
    from remediator.actuate import RealActuators

ACTS = frozenset(
    {
        "record_steady_state",
        "take_savepoint",
        "silence_replay_alerts",
        "start_replay",
        "return_to_steady",
        "restore_last_state",
        "expire_silences",
        "set_image",
    }
)
VERIFIES = frozenset(
    {"verify_replay_caught_up", "verify_rewritten", "verify_steady_offsets", "wait_replay_stopped"}
)
RunLookup = Callable[[str], Awaitable[Run | None]]


def evidence(run: Run, name: str) -> dict[str, str]:
    """The evidence of the run's step `name` (done or acting), or that step's target."""
    for s in run.steps:
        if s.name == name:
            return {**s.target, **s.evidence}
    return {}


def _offsets(text: str | None) -> dict[str, int]:
    return {str(k): int(v) for k, v in json.loads(text or "{}").items()}


class ReplayActuation:
    def __init__(self, real: RealActuators, run_of: RunLookup | None = None) -> None:
        self.real = real
        self.cfg = real.cfg
        self.run_of = run_of

    async def _committed(self, group: str, keys: list[str]) -> dict[str, int]:
        topics = sorted({k.rsplit(":", 1)[0] for k in keys}) or list(self.cfg.kafka.topics)
        view = await kafka_offsets.read(cfg=self.cfg, topics=topics, groups=[group])
        return {k: o for k, o in view.committed[group].items() if not keys or k in keys}

    async def _read_job(self) -> kube_actuator.JobView:
        return await kube_actuator.read_job(
            cfg=self.cfg, namespace=self.cfg.namespace, name=self.cfg.flink.deployment
        )

    async def _restart(
        self, run: Run, step: StepRecord, cm: dict[str, str], job: dict[str, Any], title: str,
        fence: Fence,
    ) -> dict[str, str]:  # fmt: skip
        """One GitOps change of both manifests, the sync, then the operator's new job RUNNING."""
        before = await self._read_job()
        evidence = await self.real._git(
            run.id,
            step.name,
            {
                edits.CONFIGMAP_FILE: lambda t: edits.set_data(t, cm),
                edits.JOB_FILE: lambda t: edits.set_job(t, **job),
            },
            title,
            fence,
        )
        # a change an earlier attempt already merged (a restart mid-step) restarted nothing now
        if job.get("bump_nonce") and evidence.get("changed") == "true":
            new = await self.real._job_until(
                lambda j: j.job_id != before.job_id and j.state == "RUNNING",
                f"a new job RUNNING after {step.name}",
            )
            evidence["job"] = f"job {new.job_id} {new.state} (was {before.job_id})"
        return evidence

    async def act(self, step: StepRecord, *, run: Run, fence: Fence) -> dict[str, str]:
        t = step.target
        if step.name == "record_steady_state":
            data, mode, image = await steady_state(self.cfg)
            now = {"group": data.get(GROUP_KEY), "upgrade_mode": mode, "image": image}
            changed = [k for k, v in now.items() if v != t.get(k)]
            if changed:
                raise ActuationError(
                    f"the steady state changed since the plan ({', '.join(changed)}): re-plan",
                    escalate=True,
                    code="stale-plan",
                )
            committed = await self._committed(t["group"], [])
            known = {k: o for k, o in committed.items() if o >= 0}
            if not known:
                raise ActuationError(
                    f"group {t['group']} has no committed offsets: the way back cannot be "
                    "recorded, so the replay does not start",
                    escalate=True,
                    code="no-offsets",
                )
            return {"committed": json.dumps(known, sort_keys=True), "recorded_at": _now()}
        if step.name == "take_savepoint":
            return await self._savepoint(run, step, fence)
        if step.name == "silence_replay_alerts":
            ends = datetime.now(UTC) + timedelta(seconds=self.cfg.remediator.replay.silence_for)
            sid = await am.create_silence(
                cfg=self.cfg,
                matchers={"group": t["group"]},
                ends_at=ends,
                created_by="ta-remediator",
                comment=f"run {run.id}: planned replay; lag and expiry alerts of its own group "
                "are expected (removed when the replay ends or is rolled back)",
            )
            return {"silence_ids": sid, "ends_at": ends.isoformat()}
        if step.name == "start_replay":
            started = _now()  # before the restart: every row the replay writes comes after it
            ev = await self._restart(
                run,
                step,
                {GROUP_KEY: t["group"], START_KEY: t["starting_offsets"]},
                {"upgrade_mode": "stateless", "bump_nonce": True},
                f"replay: TA_GROUP_ID {t['group']}, {t['starting_offsets']}, upgradeMode stateless",
                fence,
            )
            window_end = await self._committed_end(evidence(run, "record_steady_state"))
            return {**ev, "end_offsets": json.dumps(window_end, sort_keys=True),
                    "started_at": started}  # fmt: skip
        if step.name == "return_to_steady":
            job: dict[str, Any] = {"upgrade_mode": "stateless", "bump_nonce": True}
            if t.get("image"):
                job["image"] = t["image"]
            recorded = evidence(run, "record_steady_state").get("committed") or t.get("committed")
            at_return = await self._committed(t["group"], list(_offsets(recorded)))
            ev = await self._restart(
                run,
                step,
                {GROUP_KEY: t["group"], START_KEY: "committed"},
                job,
                f"return to steady state: TA_GROUP_ID {t['group']} from its committed offsets",
                fence,
            )
            return {**ev, "committed_at_return": json.dumps(at_return, sort_keys=True)}
        if step.name == "restore_last_state":
            back = evidence(run, "return_to_steady")
            await self._checkpointed(
                back.get("group") or "", _offsets(back.get("committed_at_return"))
            )
            cm = {START_KEY: t["starting_offsets"]} if t.get("starting_offsets") else {}
            return await self._restart(
                run,
                step,
                cm,
                {"upgrade_mode": t["upgrade_mode"]},
                f"upgradeMode back to {t['upgrade_mode']} (the returned job has checkpointed)",
                fence,
            )
        if step.name == "expire_silences":
            ids = evidence(run, "silence_replay_alerts").get("silence_ids") or t.get(
                "silence_ids", ""
            )
            for sid in filter(None, ids.split(",")):
                await am.expire_silence(cfg=self.cfg, silence_id=sid)
            return {"expired": ids or "none"}
        if step.name == "set_image":
            return await self._restart(
                run,
                step,
                {},
                {"image": t["image"], "bump_nonce": True},
                f"image rollback to {t['digest']}: {t.get('reason', '')}"[:200],
                fence,
            )
        raise ActuationError(f"no actuator for step {step.name!r}", escalate=True, code="unknown")

    async def _savepoint(self, run: Run, step: StepRecord, fence: Fence) -> dict[str, str]:
        """Bump spec.job.savepointTriggerNonce through GitOps, then wait for the operator's
        lastSavepoint to change (or to carry the new nonce: an earlier attempt's change)."""
        before = await self._read_job()
        evidence = await self.real._git(
            run.id,
            step.name,
            {edits.JOB_FILE: lambda t: edits.set_job(t, bump_savepoint=True)},
            "savepoint before a replay: spec.job.savepointTriggerNonce bump",
            fence,
        )

        def taken(j: kube_actuator.JobView) -> bool:
            if not j.savepoint_location or j.savepoint_trigger_nonce is None:
                return False
            return j.savepoint_nonce == j.savepoint_trigger_nonce and (
                j.savepoint_location != before.savepoint_location or evidence["changed"] != "true"
            )

        try:
            job = await self.real._job_until(taken, "a new savepoint (lastSavepoint.location)")
        except ActuationError as exc:
            raise ActuationError(
                f"the savepoint was not taken: {exc}; the replay does not start (the committed "
                "offsets recorded by record_steady_state remain the way back)",
                escalate=True,
                code=exc.code,
            ) from None
        location = str(job.savepoint_location)
        return {
            **evidence,
            "location": location,
            "savepoint_nonce": str(job.savepoint_nonce),
            "previous_location": before.savepoint_location or "",
            "restore": f"spec.job.initialSavepointPath: {location} with a "
            "spec.job.savepointRedeployNonce bump (a person's decision)",
        }

    async def _committed_end(self, recorded: dict[str, str]) -> dict[str, int]:
        """Where a replay to the present has caught up: the end offsets now."""
        keys = list(_offsets(recorded.get("committed")))
        topics = sorted({k.rsplit(":", 1)[0] for k in keys})
        view = await kafka_offsets.read(cfg=self.cfg, topics=topics)
        return {k: view.end[k] for k in keys if k in view.end}

    async def _checkpointed(self, group: str, at_return: dict[str, int]) -> None:
        """Wait until the returned job committed past where it started (it commits only after
        a completed checkpoint): from then on last-state restores that checkpoint."""
        pol = self.cfg.remediator.policy
        deadline = time.monotonic() + pol.verify_timeout
        while True:
            now = await self._committed(group, list(at_return))
            if any(now.get(k, -1) > o for k, o in at_return.items()):
                return
            if time.monotonic() >= deadline:
                raise ActuationError(
                    f"group {group} did not commit past {at_return} within "
                    f"{pol.verify_timeout:.0f}s: the returned job has not checkpointed, so "
                    "last-state is not put back (it would restore the replay's checkpoint)",
                    escalate=True,
                    code="timeout",
                )
            await self.real.sleep(pol.verify_every)

    async def verify(self, step: StepRecord, *, run: Run) -> VerifyResult:
        t = step.target
        try:
            return await self._verify(step, run, t)
        except ActuationError as exc:
            return VerifyResult(None, f"could not check: {exc}")

    async def _verify(self, step: StepRecord, run: Run, t: dict[str, str]) -> VerifyResult:
        if step.name == "wait_replay_stopped":
            other = None if self.run_of is None else await self.run_of(t["replay_run"])
            if other is None:
                return VerifyResult(None, f"run {t['replay_run']} not found")
            return VerifyResult(not other.open, f"run {other.id}: {other.state}")
        recorded = _offsets(
            evidence(run, "record_steady_state").get("committed") or t.get("committed")
        )
        if step.name == "verify_replay_caught_up":
            started = evidence(run, "start_replay")
            if t.get("to_ms"):
                topics = sorted({k.rsplit(":", 1)[0] for k in recorded})
                view = await kafka_offsets.read(
                    cfg=self.cfg, topics=topics, times_ms={"to": int(t["to_ms"])}
                )
                target = {k: view.at["to"][k] for k in recorded}
            else:
                target = _offsets(started.get("end_offsets"))
            now = await self._committed(t["group"], list(target))
            behind = {k: o - now.get(k, -1) for k, o in target.items() if now.get(k, -1) < o}
            detail = f"group {t['group']} at {now}, window ends at {target}"
            return VerifyResult(not behind, detail if behind else f"caught up: {detail}")
        if step.name == "verify_rewritten":
            started = evidence(run, "start_replay")
            since = datetime.fromisoformat(started["started_at"]).timestamp()
            to_ms = int(t["to_ms"]) if t.get("to_ms", "now") != "now" else int(since * 1000)
            rows = await ch_replay.window_rows(
                cfg=self.cfg,
                table=self.cfg.remediator.replay.verify_table,
                from_ms=int(t["from_ms"]),
                to_ms=to_ms,
                since_ms=int(since * 1000) - 1000,
            )
            detail = (
                f"{rows.rows} rows in the window (FINAL), {rows.keys} distinct keys, "
                f"{rows.rewritten} rewritten by the replay, {rows.raw} before merge"
            )
            return VerifyResult(rows.rows == rows.keys and rows.rewritten == rows.rows, detail)
        if step.name == "verify_steady_offsets":
            now = await self._committed(t["group"], list(recorded))
            back = {k: (o, now.get(k, -1)) for k, o in recorded.items() if now.get(k, -1) < o}
            if back:
                return VerifyResult(False, f"committed offsets BEHIND the recorded ones: {back}")
            moved = any(now[k] > o for k, o in recorded.items())
            return VerifyResult(
                moved,
                f"group {t['group']} at {now} (recorded before the replay: {recorded})",
            )
        return VerifyResult(None, f"no check for {step.name!r}")

    async def already_done(self, step: StepRecord, *, run: Run) -> bool | None:
        if step.name == "silence_replay_alerts":
            return None  # a second silence cannot be told apart: a person looks
        # reading again and expiring again are safe; a GitOps change is idempotent per run and
        # step (`gitops.change` finds the branch and the merge an earlier attempt left)
        return False


def _now() -> str:
    return datetime.now(UTC).isoformat()
