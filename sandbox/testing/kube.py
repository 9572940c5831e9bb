"""pytest fixtures for the Kubernetes API stand-in (sandbox.kube) and the GitOps repo.

Fixtures:

- `gitops_repo` -> `sandbox.gitops.GitRepo` (function): a fresh bare remote + working copy
  seeded with `argocd/applications/torghut/**`. Edit with `repo.write(rel, text)` /
  `repo.read(rel)` and publish with `repo.commit_and_push(message)`.
- `make_gitops_repo(**settings)` -> GitRepo (function): the same with `sandbox.gitops.Settings`
  overrides (kafka_bootstrap=..., group_id=..., checkpoint_bucket=...).
- `kube_server` -> `Service` (session): one stand-in process with fast controller timings.
- `kube_api` -> `KubeSandbox` (function): `kube_server` wiped and re-seeded from `gitops_repo`
  (~0.1 s), i.e. the stand-in (API + simulated Flink operator, Knative, Argo CD) after an
  initial Argo CD sync: FlinkDeployment/torghut-ta,
  ConfigMap/torghut-ta-config, Knative Service/torghut and Secret/torghut-clickhouse-auth in
  namespace `torghut`, Application/torghut-ta in `argocd` (manual sync; enable
  `spec.syncPolicy.automated` by patching the Application). RBAC is enforced with the Helm
  chart's ServiceAccounts and Roles. Fields: url, token (admin), kubeconfig (admin), repo,
  argocd_api, argocd_token, service; helpers: `fail_job(message)`, `job()`,
  `raw(method, path, ...)`, `audit(user)`, `token_for(ns, sa)`, `kubeconfig_for(component, dir)` (a kubeconfig
  with the chart's ServiceAccount token of `exporter` or `remediator`), `argocd_fault(mode)`.
- `kube_client` -> `kubernetes_asyncio.client.ApiClient` loaded from `kube_api.kubeconfig`
  (admin).

Custom objects: kubernetes_asyncio's CustomObjectsApi sends a dict body as JSON *patch*; pass
`_content_type="application/merge-patch+json"` for a merge patch (the stand-in answers 400 like
the real API otherwise).
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from kubernetes_asyncio import client, config

from sandbox.gitops import GitRepo, create_repo, git
from sandbox.kube import chart, launch, write_kubeconfig
from sandbox.kube import client as hooks
from sandbox.util import Service

NAMESPACE = "torghut"
DEPLOYMENT = "torghut-ta"
APPLICATION = "torghut-ta"
ARGOCD_NAMESPACE = "argocd"


@dataclass
class KubeSandbox:
    """A running stand-in and the GitOps repo it syncs from."""

    service: Service
    url: str
    token: str
    kubeconfig: Path
    repo: GitRepo
    argocd_api: str
    argocd_token: str

    def token_for(self, namespace: str, service_account: str) -> str:
        """A TokenRequest token for the ServiceAccount (its requests get its Roles only)."""
        return hooks.service_account_token(self.url, self.token, namespace, service_account)

    def kubeconfig_for(self, component: str, directory: Path) -> Path:
        """A kubeconfig whose user is the chart's ServiceAccount of `component`."""
        ns, name = chart.service_account(chart.rbac_objects(), component)
        path = directory / f"kubeconfig-{component}"
        return write_kubeconfig(path, self.url, self.token_for(ns, name))

    def audit(self, user: str | None = None) -> list[dict[str, Any]]:
        """Authorization decisions since the reset: {user, verb, group, resource, namespace,
        name, allowed}, oldest first."""
        query = f"?user={urllib.parse.quote(user)}" if user else ""
        code, body = self.raw("GET", f"/sandbox/audit{query}")
        if code != 200:
            raise RuntimeError(f"audit: {code} {body}")
        return list(body["items"])

    def argocd_fault(self, mode: str, message: str | None = None, app: str = APPLICATION) -> None:
        """Make the Application's next syncs `hang` (stay Running) or `fail`; `none` lifts it."""
        code, body = self.raw(
            "POST", f"/sandbox/argocd/applications/{app}/fault", {"mode": mode, "message": message}
        )
        if code != 200:
            raise RuntimeError(f"argocd fault hook: {code} {body}")

    def fail_job(self, message: str, *, name: str = DEPLOYMENT) -> dict[str, Any]:
        """Report a Flink job failure (job FAILED, lifecycle FAILED, status.error set)."""
        return hooks.fail_job(self.url, self.token, message, namespace=NAMESPACE, name=name)

    def job(self, *, name: str = DEPLOYMENT) -> dict[str, Any]:
        """The job view: desiredState/desiredRunning, jobState, lifecycleState, jobId, ..."""
        return hooks.job_state(self.url, self.token, namespace=NAMESPACE, name=name)

    def raw(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        token: str | None = None,
    ) -> tuple[int, Any]:
        """One HTTP call with exact control of the body and headers: (status, parsed JSON)."""
        data = (
            body
            if isinstance(body, bytes)
            else (json.dumps(body).encode() if body is not None else None)
        )
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token if token is None else token}",
                "Content-Type": content_type,
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


@pytest.fixture(scope="session")
def _gitops_template(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return create_repo(tmp_path_factory.mktemp("gitops-template"))


def copy_repo(template: GitRepo, dest: Path) -> GitRepo:
    """A private copy of `template` (remote and working copy), cheaper than creating one."""
    dest.mkdir(parents=True, exist_ok=True)
    remote, work = dest / template.remote.name, dest / template.workdir.name
    shutil.copytree(template.remote, remote)
    shutil.copytree(template.workdir, work)
    git(work, "remote", "set-url", "origin", str(remote))
    return GitRepo(remote=remote, workdir=work, branch=template.branch, app_path=template.app_path)


@pytest.fixture
def gitops_repo(tmp_path: Path, _gitops_template: GitRepo) -> GitRepo:
    return copy_repo(_gitops_template, tmp_path / "git")


@pytest.fixture
def make_gitops_repo(tmp_path: Path) -> Callable[..., GitRepo]:
    counter = iter(range(1_000_000))

    def make(**settings: Any) -> GitRepo:
        return create_repo(tmp_path / f"git-{next(counter)}", **settings)

    return make


@pytest.fixture(scope="session")
def kube_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = launch(tmp_path_factory.mktemp("kube"), seed=False, timings="fast", persist=False)
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def kube_api(kube_server: Service, gitops_repo: GitRepo) -> KubeSandbox:
    sandbox = KubeSandbox(
        service=kube_server,
        url=kube_server.endpoints["kube_api"],
        token=kube_server.endpoints["token"],
        kubeconfig=Path(kube_server.endpoints["kubeconfig"]),
        repo=gitops_repo,
        argocd_api=kube_server.endpoints["argocd_api"],
        argocd_token=kube_server.endpoints["argocd_token"],
    )
    gitops = {"remote": gitops_repo.url, "branch": gitops_repo.branch, "path": gitops_repo.app_path}
    code, body = sandbox.raw(
        "POST", "/sandbox/reset", {"gitops": gitops, "argocd": {"automated": False}}
    )
    if code != 200:
        raise RuntimeError(f"kube stand-in reset failed: {code} {body}")
    return sandbox


@pytest_asyncio.fixture
async def kube_client(kube_api: KubeSandbox) -> AsyncIterator[client.ApiClient]:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(kube_api.kubeconfig), client_configuration=configuration
    )
    api = client.ApiClient(configuration=configuration)
    try:
        yield api
    finally:
        await api.close()
