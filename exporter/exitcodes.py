"""The exit codes of every command of the project (ta-exporter, ta-sandbox, ta-remediator).

0-3 are the health verdicts, so a script can tell "the pipeline is down" from "the tool could
not run". 64 and 70 follow sysexits.h (EX_USAGE, EX_SOFTWARE); 69 is EX_UNAVAILABLE.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import NoReturn

OK = 0
DEGRADED = 1
DOWN = 2
UNKNOWN = 3
CONFIG_ERROR = 4
USAGE = 64
UNAVAILABLE = 69
INTERNAL = 70
SIGPIPE_EXIT = 141  # 128 + SIGPIPE, what a shell reports for a tool whose reader went away

VERDICT: dict[str, int] = {"healthy": OK, "degraded": DEGRADED, "down": DOWN, "unknown": UNKNOWN}


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits USAGE (64) instead of argparse's 2 ("down")."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {message}\n")


def _debug(argv: Sequence[str]) -> bool:
    args = list(argv)
    if "--debug" in args or "--log-level=debug" in args:
        return True
    return any(a == "--log-level" and b.lower() == "debug" for a, b in pairwise(args))


def run(prog: str, main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None) -> int:
    """`main(argv)`, with any unexpected exception reported as one stderr line naming it and
    INTERNAL (70); the traceback only with --debug or --log-level debug. Usage errors raise
    SystemExit(USAGE) through `Parser`."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`... | head`, `grep -q`): end quietly as a tool killed by
        # SIGPIPE would, and keep Python from complaining again when it flushes stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_EXIT
    except Exception as exc:
        if _debug(sys.argv[1:] if argv is None else argv):
            traceback.print_exc()
        text = " ".join(str(exc).split())
        print(f"{prog}: internal error: {type(exc).__name__}: {text}", file=sys.stderr)
        return INTERNAL
