"""The exit-code table (exporter/exitcodes.py, docs/cli.md), produced by real `ta-exporter` and
`ta-remediator` processes (its client commands: tests/remediator/test_cli.py). 1 (degraded) and 2 (down) need a running pipeline: test_cli_e2e.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import yaml

from exporter import exitcodes
from exporter.config import PROBE_NAMES, parse_config
from exporter.registry import build_probes
from tests.exporter.conftest import minimal_config

EXPORTER = [sys.executable, "-m", "exporter.cli"]
REPO = Path(__file__).parents[2]


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=environ)


def _config(tmp_path: Path, **overrides: Any) -> str:
    path = tmp_path / "exporter.yaml"
    path.write_text(yaml.safe_dump(minimal_config(**overrides)))
    return str(path)


def test_the_table() -> None:
    assert (exitcodes.OK, exitcodes.DEGRADED, exitcodes.DOWN, exitcodes.UNKNOWN) == (0, 1, 2, 3)
    assert (exitcodes.CONFIG_ERROR, exitcodes.USAGE, exitcodes.INTERNAL) == (4, 64, 70)
    assert exitcodes.UNAVAILABLE == 69
    assert exitcodes.VERDICT == {"healthy": 0, "degraded": 1, "down": 2, "unknown": 3}


def test_check_config_ok_is_0(tmp_path: Path) -> None:
    proc = _run([*EXPORTER, "check-config", _config(tmp_path)])
    assert (proc.returncode, proc.stdout.strip()) == (0, "ok"), proc.stderr


def test_a_bad_config_is_4_for_every_command(tmp_path: Path) -> None:
    bad = _config(tmp_path, server={"port": "http"})
    for args in (["check-config", bad], ["report", "--config", bad]):
        proc = _run([*EXPORTER, *args])
        assert proc.returncode == exitcodes.CONFIG_ERROR == 4, (args, proc.stderr)
        assert "server.port" in proc.stderr and proc.stdout == ""


def test_usage_errors_are_64_not_2() -> None:
    for args in ([], ["report"], ["frobnicate"], ["calendar", "--year", "next"], ["--nope"]):
        proc = _run([*EXPORTER, *args])
        assert proc.returncode == exitcodes.USAGE == 64, (args, proc.stderr)
        assert "usage: ta-exporter" in proc.stderr and "Traceback" not in proc.stderr


def test_report_with_nothing_reachable_is_unknown_3(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        clickhouse={"replicas": [{"name": "r1", "url": "http://127.0.0.1:1"}]},
        kafka={"bootstrap_servers": ["127.0.0.1:1"], "topics": ["t"]},
        probes={"default": {"timeout": "2s"}},
    )
    proc = _run(
        [*EXPORTER, "report", "--config", config],
        KUBECONFIG=str(tmp_path / "no-kubeconfig"),
        KUBERNETES_SERVICE_HOST="",
    )
    assert proc.returncode == exitcodes.UNKNOWN == 3, proc.stdout + proc.stderr
    assert "overall: unknown" in proc.stdout
    # not in a cluster: the Kubernetes probes name the kubeconfig they tried ($KUBECONFIG)
    assert "no-kubeconfig" in proc.stdout


def test_an_unexpected_error_is_70_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = _config(tmp_path, server={"host": "127.0.0.1", "port": port})
        proc = _run([*EXPORTER, "serve", "--config", config, "--log-level", "error"])
        debug = _run([*EXPORTER, "--debug", "serve", "--config", config, "--log-level", "error"])
    assert proc.returncode == exitcodes.INTERNAL == 70, proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith("ta-exporter: internal error: OSError: ") and str(port) in line
    assert debug.returncode == 70
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.splitlines()[-1] == line


async def test_probe_names_list_every_probe_the_exporter_builds() -> None:
    cfg = parse_config(
        minimal_config(jangar={"url": "http://127.0.0.1:1"}, flink={"rest_url": "http://h:1"})
    )
    async with AsyncExitStack() as stack:
        specs = await build_probes(cfg, stack=stack)
    assert sorted({s.name.split("/")[0] for s in specs}) == sorted(PROBE_NAMES)


def test_the_exit_codes_are_documented_in_one_place() -> None:
    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    for code in (0, 1, 2, 3, 4, 64, 69, 70, 141):
        assert f"| {code} |" in text, code
    assert "docs/cli.md" in (REPO / "README.md").read_text(encoding="utf-8")


def test_a_reader_that_goes_away_ends_the_command_quietly_with_141() -> None:
    """`ta-remediator runs | grep -q x`: no BrokenPipeError traceback, SIGPIPE's exit code."""
    chatty = (
        "import sys\n"
        "from exporter import exitcodes\n"
        "def main(argv):\n"
        "    for i in range(10**7):\n"
        "        print('run', i)\n"
        "    return 0\n"
        "sys.exit(exitcodes.run('ta-remediator', main, []))\n"
    )
    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", chatty],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environ,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"run 0\n"
    proc.stdout.close()  # the reader goes away
    assert proc.wait(timeout=120) == exitcodes.SIGPIPE_EXIT == 141
    assert proc.stderr.read() == b""
