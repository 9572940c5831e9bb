"""A throwaway GitOps repository shaped like the production one: a bare "remote" (what Argo CD's
`repoURL` names) plus a working copy, seeded with the torghut TA manifests and committed.

The remote protects the tracked branch as a Git host's branch protection does (a pre-receive
hook): no direct push, no force push, no deletion; a push carrying the push option
`bypass=<token>` (the token is in the remote's config `sandbox.bypassToken`) is the admin who may
skip the pull request, but even it cannot force-push or delete. Feature branches are free,
force pushes included: `receive.denyNonFastForwards` is deliberately not set, since git applies it
to every ref and a host does not. The hosting stand-in (`sandbox.github`) merges server-side.

The manifests round-trip byte for byte through ruamel.yaml with `YAML()`, `preserve_quotes =
True`, `width = 4096` and `indent(mapping=2, sequence=4, offset=2)` (the usual k8s layout)."""

from __future__ import annotations

import hashlib
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from string import Template

APP_PATH = "argocd/applications/torghut"
BRANCH = "main"
GIT_USER = ("torghut-sandbox", "sandbox@torghut.invalid")


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd`; raise with git's own message on failure."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip()}")
    return proc.stdout.strip()


@dataclass(frozen=True)
class GitRepo:
    """The sandbox GitOps repo: push to `remote` from `workdir` on `branch`."""

    remote: Path
    workdir: Path
    branch: str = BRANCH
    app_path: str = APP_PATH

    @property
    def url(self) -> str:
        """What the Argo CD Application's spec.source.repoURL holds."""
        return str(self.remote)

    def file(self, relpath: str) -> Path:
        """A path in the working copy, relative to the repo root."""
        return self.workdir / relpath

    def read(self, relpath: str) -> str:
        return self.file(relpath).read_text()

    def write(self, relpath: str, text: str) -> None:
        path = self.file(relpath)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def commit_and_push(self, message: str, paths: list[str] | None = None) -> str:
        """Commit `paths` (default: every change) and push to the tracked branch as an admin
        bypassing branch protection (the sandbox's own setup, or a test playing a person who
        pushes directly); return the sha."""
        git(self.workdir, "add", "--", *(paths or ["."]))
        git(self.workdir, "commit", "-q", "-m", message)
        option = f"bypass={self.bypass_token()}"
        git(self.workdir, "push", "-q", "-o", option, "origin", f"HEAD:{self.branch}")
        return self.head()

    def bypass_token(self) -> str:
        """The push option value that lets a push skip the pull-request rule."""
        return git(self.remote, "config", "--get", "sandbox.bypassToken")

    def head(self) -> str:
        return git(self.workdir, "rev-parse", "HEAD")

    def remote_head(self) -> str:
        return git(self.remote, "rev-parse", self.branch)


@dataclass(frozen=True)
class Settings:
    """Names the sandbox's other services share with the manifests."""

    namespace: str = "torghut"
    kafka_bootstrap: str = "127.0.0.1:9092"
    group_id: str = "torghut-ta-v1"
    trades_topic: str = "torghut.trades.v1"
    quotes_topic: str = "torghut.quotes.v1"
    bars1m_topic: str = "torghut.bars.1m.v1"
    microbars_topic: str = "torghut.ta.bars.1s.v1"
    signals_topic: str = "torghut.ta.signals.v1"
    checkpoint_bucket: str = "torghut-flink"
    s3_endpoint: str = "http://127.0.0.1:9000"
    clickhouse_url: str = "http://torghut-clickhouse:8123"
    image_tag: str = "torghut-ta-2026.02.08"
    trading_enabled: bool = True

    @property
    def image_digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.image_tag.encode()).hexdigest()


FLINKDEPLOYMENT = Template("""\
# Flink TA job for Torghut: consumes the ingest topics from Kafka, computes microbars and
# signals, and writes them to ClickHouse (torghut.ta_microbars / torghut.ta_signals).
# Managed by the Flink Kubernetes Operator; synced by Argo CD from this directory.
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: torghut-ta
  namespace: $namespace
  labels:
    app.kubernetes.io/name: torghut-ta
    app.kubernetes.io/part-of: torghut
spec:
  # Pinned by digest; a rollback restores the previous digest on this line.
  image: registry.torghut.internal/torghut/torghut-ta@$image_digest
  imagePullPolicy: IfNotPresent
  flinkVersion: v1_20
  serviceAccount: flink
  # Bump this integer to restart the job with an otherwise unchanged spec.
  restartNonce: 1
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: "2"
    state.backend: rocksdb
    state.backend.incremental: "true"
    # Checkpoints and savepoints live in object storage (MinIO in-cluster, S3 API).
    state.checkpoints.dir: s3://$checkpoint_bucket/checkpoints/torghut-ta
    state.savepoints.dir: s3://$checkpoint_bucket/savepoints/torghut-ta
    execution.checkpointing.interval: 30s
    execution.checkpointing.min-pause: 10s
    high-availability.type: kubernetes
    high-availability.storageDir: s3://$checkpoint_bucket/ha/torghut-ta
    s3.endpoint: $s3_endpoint
    s3.path.style.access: "true"
  jobManager:
    resource:
      memory: 1024m
      cpu: 0.5
  taskManager:
    resource:
      memory: 2048m
      cpu: 1
  podTemplate:
    spec:
      containers:
        - name: flink-main-container
          envFrom:
            # Topics, consumer group and sink settings (see configmap.yaml).
            - configMapRef:
                name: torghut-ta-config
          env:
            # AT_LEAST_ONCE: replays may write duplicates; ClickHouse tables deduplicate.
            - name: TA_KAFKA_DELIVERY_GUARANTEE
              value: AT_LEAST_ONCE
            - name: TA_CLICKHOUSE_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: torghut-clickhouse-auth
                  key: password
  job:
    jarURI: local:///opt/flink/usrlib/torghut-ta.jar
    entryClass: ai.torghut.ta.TechnicalAnalysisJob
    parallelism: 2
    # last-state restores Kafka offsets from the newest checkpoint: a new TA_GROUP_ID alone
    # does NOT replay anything (see README.md, "TA replay workflow").
    upgradeMode: last-state
    # running | suspended
    state: running
""")

CONFIGMAP = Template("""\
# Runtime settings of the torghut-ta Flink job (mounted with envFrom).
apiVersion: v1
kind: ConfigMap
metadata:
  name: torghut-ta-config
  namespace: $namespace
  labels:
    app.kubernetes.io/name: torghut-ta
    app.kubernetes.io/part-of: torghut
data:
  KAFKA_BOOTSTRAP_SERVERS: $kafka_bootstrap
  KAFKA_SECURITY_PROTOCOL: PLAINTEXT
  # Consumer group of the steady-state job. Replays use a new, unique id; record the old
  # one here in the PR description so it can be restored.
  TA_GROUP_ID: $group_id
  # Where to start when no state is restored: earliest | latest | timestamp:<epoch ms>
  TA_KAFKA_STARTING_OFFSETS: earliest
  # Input topics
  TA_TRADES_TOPIC: $trades_topic
  TA_QUOTES_TOPIC: $quotes_topic
  TA_BARS1M_TOPIC: $bars1m_topic
  # Output topics
  TA_MICROBARS_TOPIC: $microbars_topic
  TA_SIGNALS_TOPIC: $signals_topic
  # ClickHouse sink (user/password come from Secret/torghut-clickhouse-auth)
  TA_CLICKHOUSE_URL: $clickhouse_url
  TA_CLICKHOUSE_DATABASE: torghut
  TA_CLICKHOUSE_USER: torghut
""")

KNATIVE_SERVICE = Template("""\
# Torghut trading service. TRADING_ENABLED is the trading kill switch: set it to "false"
# whenever TA signals are stale or uncertain (before any replay).
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: torghut
  namespace: $namespace
  labels:
    app.kubernetes.io/name: torghut
    app.kubernetes.io/part-of: torghut
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "1"
        autoscaling.knative.dev/max-scale: "1"
    spec:
      containers:
        - name: torghut
          image: registry.torghut.internal/torghut/torghut@$image_digest
          env:
            - name: TRADING_ENABLED
              value: "$trading_enabled"
            - name: TA_SIGNALS_TOPIC
              value: $signals_topic
""")

README = """\
# torghut (Argo CD application path)

Everything under this directory is applied to namespace `torghut` by the Argo CD
Application `torghut-ta`. Change the cluster by changing these files: open a PR, merge, sync.

| file | what it controls |
|---|---|
| `ta/flinkdeployment.yaml` | the TA Flink job: image digest, checkpoint/savepoint paths, upgrade mode, `state`, `restartNonce` |
| `ta/configmap.yaml` | Kafka bootstrap, topic names, `TA_GROUP_ID`, ClickHouse sink |
| `knative-service.yaml` | the trading service and its `TRADING_ENABLED` switch |

## TA replay workflow (canonical)

Use this when TA outputs must be recomputed from the Kafka ingest topics (a TA bug was fixed,
or ClickHouse lost or corrupted rows). Each step is a separate, reviewable commit.

1. Check the window. Only records still retained in the input topics can be replayed; find the
   oldest retained record per topic and compare it with the start you need. Rows older than the
   ClickHouse TTL will be merged away again after the replay.
2. Make trading safe. If signals may be wrong, set `TRADING_ENABLED` to `"false"` in
   `knative-service.yaml` and sync before touching the job.
3. Write down the rollback. Note the current `TA_GROUP_ID` and the image digest in the PR.
4. Isolate the consumer group. Set a new, never-used `TA_GROUP_ID` in `ta/configmap.yaml`
   (for example `torghut-ta-replay-20260208`). On its own this replays nothing: with
   `upgradeMode: last-state` the job restores its Kafka offsets from the last checkpoint.
5. Start without restored source state. Either switch `upgradeMode` to `stateless` for this
   deployment, or suspend the job (`state: suspended`), sync, then resume with a fresh start.
   Set `TA_KAFKA_STARTING_OFFSETS` to the wanted start (`earliest` or `timestamp:<ms>`) and bump
   `restartNonce` so the operator redeploys.
6. Verify. The FlinkDeployment reaches `RUNNING`/`STABLE` (job state, not Argo CD health), lag
   on the new group shrinks, and `max(event_ts)` in `torghut.ta_signals` advances.
7. Return to steady state. Restore `upgradeMode: last-state`, keep or restore the group id as
   decided in step 3, and re-enable trading once signals are fresh.

Rollback: revert the commits above (group id, image digest) and sync.
"""

FILES = {
    "ta/flinkdeployment.yaml": FLINKDEPLOYMENT,
    "ta/configmap.yaml": CONFIGMAP,
    "knative-service.yaml": KNATIVE_SERVICE,
}


def render_manifests(settings: Settings | None = None) -> dict[str, str]:
    """The app path's files (relative to `APP_PATH`) as text."""
    s = settings or Settings()
    values = {k: getattr(s, k) for k in s.__dataclass_fields__}
    values["image_digest"] = s.image_digest
    values["trading_enabled"] = "true" if s.trading_enabled else "false"
    out = {rel: tpl.substitute(values) for rel, tpl in FILES.items()}
    out["README.md"] = README
    return out


def create_repo(workdir: Path, *, branch: str = BRANCH, **settings: object) -> GitRepo:
    """Create `<workdir>/gitops.git` (bare) and `<workdir>/gitops` (working copy), seed, push.

    Keyword options override `Settings` fields (kafka_bootstrap, group_id, *_topic,
    checkpoint_bucket, s3_endpoint, clickhouse_url, image_tag, trading_enabled, namespace).
    """
    workdir = Path(workdir)
    remote, work = workdir / "gitops.git", workdir / "gitops"
    if remote.exists() or work.exists():
        raise FileExistsError(f"a gitops repo already exists under {workdir}")
    workdir.mkdir(parents=True, exist_ok=True)
    git(workdir, "init", "-q", "--bare", "-b", branch, str(remote))
    protect(remote, branch)
    git(workdir, "init", "-q", "-b", branch, str(work))
    for key, value in (
        ("user.name", GIT_USER[0]),
        ("user.email", GIT_USER[1]),
        ("commit.gpgsign", "false"),
    ):
        git(work, "config", key, value)
    git(work, "remote", "add", "origin", str(remote))
    repo = GitRepo(remote=remote, workdir=work, branch=branch)
    for rel, text in render_manifests(Settings(**settings)).items():  # type: ignore[arg-type]
        repo.write(f"{APP_PATH}/{rel}", text)
    repo.commit_and_push("torghut: TA pipeline manifests (Flink job, config, trading service)")
    return repo


PRE_RECEIVE = """\
#!/bin/sh
# Branch protection of the tracked branch, with the messages GitHub sends (GH006).
protected=$(git config --get sandbox.protectedBranch) || exit 0
token=$(git config --get sandbox.bypassToken)
bypass=no
i=0
while [ "$i" -lt "${GIT_PUSH_OPTION_COUNT:-0}" ]; do
    eval "option=\\${GIT_PUSH_OPTION_$i}"
    if [ -n "$token" ] && [ "$option" = "bypass=$token" ]; then bypass=yes; fi
    i=$((i + 1))
done
zero=0000000000000000000000000000000000000000
status=0
refuse() {
    echo "error: GH006: Protected branch update failed for $1." >&2
    echo "error: $2" >&2
    status=1
}
while read -r old new ref; do
    [ "$ref" = "refs/heads/$protected" ] || continue
    if [ "$new" = "$zero" ]; then
        refuse "$ref" "Cannot delete this branch"
    elif [ "$old" != "$zero" ] && ! git merge-base --is-ancestor "$old" "$new"; then
        refuse "$ref" "Cannot force-push to this branch"
    elif [ "$bypass" != yes ]; then
        refuse "$ref" "Changes must be made through a pull request."
    fi
done
exit $status
"""


def protect(remote: Path, branch: str) -> None:
    """Install branch protection for `branch` on the bare `remote` (see the module docstring)."""
    for key, value in (
        ("sandbox.protectedBranch", branch),
        ("sandbox.bypassToken", secrets.token_hex(16)),
        ("receive.advertisePushOptions", "true"),
    ):
        git(remote, "config", key, value)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(PRE_RECEIVE)
    hook.chmod(0o755)
