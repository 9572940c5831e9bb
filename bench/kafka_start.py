"""How long the sandbox's Apache Kafka takes to start, with the machine's load alongside.

Run `python bench/kafka_start.py [--n 3]`: each round launches a broker on a fresh workdir
(storage format + JVM start until "Kafka Server started" and the port answers), stops it, and
launches it again on the same workdir (no format; topics and records kept).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox import kafka


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=3, help="rounds")
    args = parser.parse_args(argv)
    first, again = [], []
    for _ in range(args.n):
        workdir = Path(tempfile.mkdtemp(prefix="bench-kafka-start-"))
        for samples in (first, again):
            t0 = time.monotonic()
            service = kafka.launch(workdir)
            samples.append(time.monotonic() - t0)
            service.stop(timeout=20)
    load = os.getloadavg()[0]
    print(f"Kafka {kafka.KAFKA_VERSION}, {os.cpu_count()} CPUs, load average {load:.1f}")
    print(
        f"  first start (format + start): median {statistics.median(first):.1f}s, max {max(first):.1f}s"
    )
    print(
        f"  restart (same workdir):       median {statistics.median(again):.1f}s, max {max(again):.1f}s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
