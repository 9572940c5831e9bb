"""pytest fixtures for the sandbox's s3 service."""
