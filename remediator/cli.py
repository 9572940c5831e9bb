"""ta-remediator: the remediator's command line.

The remediator (Alertmanager webhook -> runbook procedure -> gates -> GitOps actions ->
verification) is not part of this release. The command exists so the name is reserved and so
that anything invoking it learns that plainly instead of through an import error.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from exporter import exitcodes


def _main(argv: Sequence[str] | None) -> int:
    print(
        "ta-remediator: the remediator is not available in this release; nothing was done.\n"
        "The exporter (ta-exporter), the alerts and the dashboards work without it.",
        file=sys.stderr,
    )
    return exitcodes.UNAVAILABLE


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: `exporter.exitcodes` (docs/cli.md)."""
    return exitcodes.run("ta-remediator", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
