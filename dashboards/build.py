"""Write (or check) the dashboard JSON files from their Python definitions.

python -m dashboards.build          # rewrite dashboards/*.json
python -m dashboards.build --check  # exit 1 when a file differs from its definition
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from dashboards import overview, remediation
from dashboards.grafana import Json

DIR = Path(__file__).resolve().parent
BOARDS: dict[str, Callable[[], Json]] = {
    f"{overview.UID}.json": overview.build,
    f"{remediation.UID}.json": remediation.build,
}


def render(build: Callable[[], Json]) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def stale_files(directory: Path = DIR) -> list[str]:
    """Names of the dashboard files whose content differs from their definition."""
    out = []
    for name, build in BOARDS.items():
        path = directory / name
        if not path.exists() or path.read_text() != render(build):
            out.append(name)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for name in stale:
            print(f"{name} differs from its definition: run python -m dashboards.build")
        return 1 if stale else 0
    for name, build in BOARDS.items():
        (DIR / name).write_text(render(build))
        print(f"wrote dashboards/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
