"""pytest fixtures for the sandbox's prometheus service."""
