"""The remediator tests' fixtures (helpers live in remediator_kit.py: a unique module name)."""

from remediator_kit import make_config, rcfg

__all__ = ["make_config", "rcfg"]
