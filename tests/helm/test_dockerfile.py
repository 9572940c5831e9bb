"""The Dockerfile, checked statically (no Docker engine here) and its entrypoint run for real."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import tomllib
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

BUILD_TOOLS = ("build-essential", "gcc", "g++", "make", "cmake", "curl", "wget")
# what the final image installs from apt, and why: the remediator's GitOps actuator runs git
# (remediator/actuators/gitrepo.py), over ssh for an ssh:// remote
RUNTIME_PACKAGES = {"git", "openssh-client"}


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [a for k, a in self.instructions if k == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages with their (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    logical, buffer = [], ""
    for raw in text.splitlines():
        if not buffer and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        if raw.rstrip().endswith("\\"):
            buffer += raw.rstrip()[:-1] + " "
            continue
        logical.append(buffer + raw)
        buffer = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.strip().partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", rest, re.IGNORECASE)
            assert m, f"unparsable FROM: {rest}"
            stages.append(Stage(image=m.group(1), name=m.group(2)))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, rest))
    return stages


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes; a match on a parent counts."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.lstrip("!").rstrip("/").removeprefix("**/")
        if any(fnmatch(c, pat) or fnmatch(c.split("/")[-1], pat) for c in candidates):
            ignored = not negate
    return ignored


@pytest.fixture(scope="module")
def stages(kit) -> list[Stage]:
    return parse_dockerfile((kit.repo / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def ignore_patterns(kit) -> list[str]:
    lines = (kit.repo / ".dockerignore").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def test_multi_stage_from_pinned_bases(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    for stage in stages:
        repo, _, tag = stage.image.partition(":")
        assert repo == "python", stage.image
        # An exact patch release of the slim Debian image, never a floating tag.
        assert re.fullmatch(r"3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", tag), stage.image
    assert stages[0].name == "builder"


def test_builder_builds_wheels_and_runtime_only_installs_them(stages: list[Stage]) -> None:
    builder, runtime = stages[0], stages[-1]
    assert any("pip wheel" in run for run in builder.args("RUN"))
    installs = [run for run in runtime.args("RUN") if "pip install" in run]
    assert installs and all("--no-index" in run for run in installs)
    assert any("from=builder" in run and "python -m venv /opt/venv" in run for run in installs)
    assert not runtime.args("COPY") and not runtime.args("ADD"), "no sources in the final image"


def test_every_pip_step_is_constrained_by_the_lock(stages: list[Stage]) -> None:
    builder, runtime = stages[0], stages[-1]
    assert any("constraints.txt" in c.split()[:-1] for c in builder.args("COPY"))
    wheel = [run for run in builder.args("RUN") if "pip wheel" in run]
    assert wheel and all(re.search(r"-c\s+\S*constraints\.txt", run) for run in wheel)
    installs = [run for run in runtime.args("RUN") if "pip install" in run]
    assert installs and all(re.search(r"-c\s+\S*constraints\.txt", run) for run in installs)


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"constraints.txt: {line!r} is not an exact pin (name==version)"
            pins[canonicalize_name(name)] = version
    return pins


def test_every_runtime_dependency_is_pinned_exactly_within_its_range(kit) -> None:
    pins = _pins(kit.repo / "constraints.txt")
    project = tomllib.loads((kit.repo / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is a runtime dependency but not in constraints.txt"
        assert req.specifier.contains(pins[name]), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside {spec!r}: run make constraints"
        )
    test_only = {canonicalize_name(n) for n in ("pytest", "ruff", "mypy", "chdb-core")}
    assert not test_only & set(pins), "constraints.txt holds test/sandbox-only packages"


def test_final_image_has_no_build_tools(stages: list[Stage]) -> None:
    installed: set[str] = set()
    for run in stages[-1].args("RUN"):
        assert "apk add" not in run, run
        for tool in BUILD_TOOLS:
            assert not re.search(rf"(^|\s){re.escape(tool)}(\s|$)", run), (tool, run)
        for install in re.findall(r"apt-get install ([^&]*)", run):
            assert "--no-install-recommends" in install, run
            installed |= {w for w in install.split() if not w.startswith("-")}
        if "apt-get install" in run:
            assert "rm -rf /var/lib/apt/lists/*" in run, "no apt lists left in a layer"
    assert installed == RUNTIME_PACKAGES


def test_runs_as_uid_10001(stages: list[Stage]) -> None:
    runtime = stages[-1]
    users = runtime.args("USER")
    assert users and users[-1] in {"10001", "10001:10001"}
    last_user = max(i for i, (k, _) in enumerate(runtime.instructions) if k == "USER")
    after = [k for k, _ in runtime.instructions[last_user + 1 :]]
    assert "RUN" not in after, "nothing may run as root after dropping privileges"
    env = " ".join(runtime.args("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env  # the root filesystem is read-only in the chart


def test_image_ports_match_the_chart(stages: list[Stage], remediator_objects, kit) -> None:
    exposed = {int(p) for e in stages[-1].args("EXPOSE") for p in e.split()}
    ports = {
        c["ports"][0]["containerPort"]
        for _, pod in kit.pod_specs(remediator_objects)
        for c in pod["containers"]
    }
    assert ports == exposed


def entrypoint_script(stages: list[Stage]) -> list[str]:
    (entrypoint,) = stages[-1].args("ENTRYPOINT")
    argv = json.loads(entrypoint)  # exec form: signals reach the process, no extra shell layer
    assert argv[:2] == ["/bin/sh", "-c"]
    return argv


def test_entrypoint_selects_the_component(
    stages: list[Stage], remediator_objects, kit, tmp_path: Path
) -> None:
    argv = entrypoint_script(stages)
    scripts = tomllib.loads((kit.repo / "pyproject.toml").read_text())["project"]["scripts"]
    bin_dir = tmp_path / "venv-bin"
    bin_dir.mkdir()
    for component in ("exporter", "remediator"):
        assert f"ta-{component}" in scripts  # the console script the image execs exists
        fake = bin_dir / f"ta-{component}"
        fake.write_text(f'#!/bin/sh\necho "ta-{component} $*"\n')
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    script = argv[2].replace("/opt/venv/bin/", f"{bin_dir}/")
    assert script != argv[2]
    # The chart's container args are what the entrypoint receives.
    for _, pod in kit.pod_specs(remediator_objects):
        args = pod["containers"][0]["args"]
        done = subprocess.run(
            ["/bin/sh", "-c", script, *args], capture_output=True, text=True, timeout=10
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"ta-{args[0]} " + " ".join(args[1:])
    (cmd,) = stages[-1].args("CMD")
    done = subprocess.run(
        ["/bin/sh", "-c", script, *json.loads(cmd)], capture_output=True, text=True, timeout=10
    )
    assert done.stdout.startswith("ta-exporter serve --config ")
    bad = subprocess.run(
        ["/bin/sh", "-c", script, "sandbox", "up"], capture_output=True, text=True, timeout=10
    )
    assert bad.returncode == 64 and "usage" in bad.stderr


def test_build_context_holds_what_the_builder_copies(
    stages: list[Stage], ignore_patterns, kit
) -> None:
    for copy in stages[0].args("COPY"):
        *sources, _dest = [a for a in copy.split() if not a.startswith("--")]
        for source in sources:
            assert (kit.repo / source).exists(), source
            assert not dockerignored(source, ignore_patterns), (
                f"{source} is excluded from the context"
            )
    for private in (
        ".venv",
        ".git",
        "tests/helm/conftest.py",
        "sandbox/util.py",
        ".sandbox",
        "helm",
    ):
        assert dockerignored(private, ignore_patterns), f"{private} would be sent to the daemon"
    assert dockerignored("exporter/__pycache__/x.pyc", ignore_patterns)
    assert not dockerignored("exporter/config.py", ignore_patterns)
