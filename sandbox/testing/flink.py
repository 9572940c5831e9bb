"""pytest fixtures for the sandbox's flink service."""
