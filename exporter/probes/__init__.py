"""Probes: one module per concern; pure interpretation of what the clients fetched."""
