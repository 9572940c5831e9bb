"""pytest fixtures built on the sandbox (loaded by tests/conftest.py)."""
