"""Kubernetes API stand-in with a simulated Flink operator, Knative and Argo CD.

`launch(workdir, ...) -> Service` starts it (see `sandbox.kube.launcher`); `sandbox.kube.client`
holds helpers for the sandbox hooks (report a Flink job failure, read the job's desired state).
"""

from sandbox.kube import chart, client
from sandbox.kube.launcher import component_kubeconfig, launch, write_kubeconfig

__all__ = ["chart", "client", "component_kubeconfig", "launch", "write_kubeconfig"]
