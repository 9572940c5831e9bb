"""pytest fixtures for the sandbox's stack service."""
