"""pytest fixtures for the sandbox's clickhouse service."""
