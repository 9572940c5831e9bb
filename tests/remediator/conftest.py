"""The remediator tests' fixtures (helpers live in remediator_kit.py, execute_kit.py and
server_kit.py: unique module names)."""

from execute_kit import world
from remediator_kit import make_config, rcfg
from server_kit import acting, harness

__all__ = ["acting", "harness", "make_config", "rcfg", "world"]
