"""The remediator tests' fixtures (helpers live in remediator_kit.py and execute_kit.py: unique
module names)."""

from execute_kit import world
from remediator_kit import make_config, rcfg

__all__ = ["make_config", "rcfg", "world"]
