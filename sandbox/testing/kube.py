"""pytest fixtures for the sandbox's kube service."""
