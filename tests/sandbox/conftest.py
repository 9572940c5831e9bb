"""The sandbox tests' fixtures (helpers live in gameday_kit.py and ta_writer_kit.py: unique
module names)."""

from ta_writer_kit import writer_env

__all__ = ["writer_env"]
