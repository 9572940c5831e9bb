"""The trades feed (torghut-ws's part): steady-rate trades for a few symbols.

python -m sandbox.feed --kafka HOST:PORT --topic T [--rate 5]

5 trades a second (each symbol every 0.6 s), sent once a second in one batch, keep every signal
fresh to the second at a small fraction of a core; `--rate` raises it for load experiments.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from sandbox.kafka import DEFAULT_SYMBOLS, stream_trades
from sandbox.util import Service, python_module_args, spawn, wait_started

DEFAULT_RATE = 5.0


def launch(
    workdir: Path, *, kafka_bootstrap: str, topic: str, rate_hz: float = DEFAULT_RATE
) -> Service:
    log_path = workdir / "logs" / "feed.log"
    args = ["--kafka", kafka_bootstrap, "--topic", topic, "--rate", str(rate_hz)]
    proc = spawn(python_module_args("sandbox.feed", *args), log_path=log_path)
    wait_started(
        proc.pid, lambda: "feed started" in log_path.read_text(), log=log_path,
        what="trades feed", timeout=60,
    )  # fmt: skip
    return Service("feed", proc.pid, {}, str(log_path))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m sandbox.feed")
    p.add_argument("--kafka", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument(
        "--rate", type=float, default=DEFAULT_RATE, help="trades per second, all symbols"
    )
    p.add_argument("--symbols", nargs="*", default=list(DEFAULT_SYMBOLS))
    a = p.parse_args(argv)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print("feed started", flush=True)
        await stream_trades(a.kafka, a.topic, rate_hz=a.rate, stop=stop, symbols=a.symbols)

    asyncio.run(_main())


if __name__ == "__main__":
    main()
