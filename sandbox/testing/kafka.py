"""pytest fixtures for the sandbox's kafka service."""
