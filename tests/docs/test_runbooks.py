"""The runbook pages (docs/runbooks/) as an oncall engineer reads them: one page per alert, each
with the same sections, a numbered "Do it by hand" block whose GitOps files, fields and emergency
patches exist in the seeded GitOps repository (sandbox/gitops.py), an escalation rule, the shared
pause page linked, the facts the project measured, and none of the dangerous advice."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediator.actuators.alertmanager import AWAITING, FAILED
from remediator.intake import TRADING_GATE_ALERT
from sandbox import gitops

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = REPO / "docs" / "runbooks"
RULES = REPO / "alerts" / "rules"
PAUSE_PAGE = "pausing-the-remediator.md"
KILL_SWITCH = 'torghut.io/remediation-paused: "true"'
SELF_HEAL_WARNING = "Argo CD self-heal reverts this: turn it off first or commit the same change"
SECTIONS = (
    "## What it means",
    "## Confirm",
    "## What the remediator does",
    "## Do it by hand",
    "## Escalate",
    "## Stop the remediator",
    "## Roll back",
)
# components whose fix goes through the TA application's GitOps files
PIPELINE_COMPONENTS = {"flink", "clickhouse", "kafka", "signals", "trading"}
# what `kubectl patch <kind> <name>` changes, as a file of the seeded repository
PATCH_TARGETS = {
    ("flinkdeployment", "torghut-ta"): "ta/flinkdeployment.yaml",
    ("ksvc", "torghut"): "knative-service.yaml",
    ("configmap", "torghut-ta-config"): "ta/configmap.yaml",
}
GITOPS_FILE = re.compile(r"`(argocd/applications/torghut/[A-Za-z0-9_./-]+\.yaml)`")
FIELD = re.compile(r"`((?:spec|data|metadata)(?:\.[A-Za-z0-9_-]+(?:\[\])?)+)(?::[^`]*)?`")
ENV_OR_KEY = re.compile(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?:=[^`]*)?`")
PATCH = re.compile(
    r"kubectl -n torghut patch (\w+) ([\w-]+) --type=(merge|json)\s*\\?\s*-p '([^']+)'"
)


def pages() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(RUNBOOKS.glob("TA*.md"))}


PAGES = pages()


def alert_names() -> set[str]:
    names = set()
    for path in sorted(RULES.glob("*.y*ml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            names |= {r["alert"] for r in group["rules"] if "alert" in r}
    return names


def procedures() -> dict[str, set[str]]:
    """Alert name -> the `procedure` labels of its rules."""
    found: dict[str, set[str]] = {}
    for path in sorted(RULES.glob("*.y*ml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    label = str((rule.get("labels") or {}).get("procedure", "none"))
                    found.setdefault(rule["alert"], set()).add(label)
    return found


def section(text: str, heading: str) -> str:
    """The body of `heading` (a `## ` line) up to the next `## ` heading."""
    match = re.search(rf"^{re.escape(heading)}[^\n]*\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no {heading!r}"
    return match.group(1)


def steps(block: str) -> list[str]:
    """The numbered steps of a block (a step runs until the next `N. ` at the line start)."""
    return re.findall(r"^\d+\. .*?(?=^\d+\. |\Z)", block, re.M | re.S)


def component(text: str) -> str:
    row = re.search(r"^\|---.*\n\| ([^|]+)\| ([^|]+)\|", text, re.M)
    assert row, "no severity/component table under the title"
    return row.group(2).strip()


def resolves(node: Any, parts: list[str]) -> bool:
    """`parts` of a dotted field path lead somewhere in `node`; `x[]` is any element of list x
    and a key may itself contain dots (`state.checkpoints.dir`)."""
    if not parts:
        return True
    if not isinstance(node, dict):
        return False
    for i in range(1, len(parts) + 1):
        key = ".".join(parts[:i])
        many = key.endswith("[]")
        key = key.removesuffix("[]")
        if key not in node:
            continue
        rest = parts[i:]
        if many:
            if isinstance(node[key], list) and any(resolves(x, rest) for x in node[key]):
                return True
        elif resolves(node[key], rest):
            return True
    return False


def names_in(doc: dict[str, Any]) -> set[str]:
    """Env names of every container and ConfigMap data keys: what `NAME=value` may refer to."""
    found = set((doc.get("data") or {}).keys())

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "env" and isinstance(value, list):
                    found.update(e["name"] for e in value if isinstance(e, dict) and "name" in e)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(doc)
    return found


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The seeded GitOps repository's manifests, read back from a real clone's working copy:
    repo-relative path -> parsed YAML."""
    repo = gitops.create_repo(tmp_path_factory.mktemp("gitops"))
    found = {}
    for path in sorted((repo.workdir / gitops.APP_PATH).rglob("*.yaml")):
        found[str(path.relative_to(repo.workdir))] = yaml.safe_load(path.read_text())
    assert found, "the seeded repository has no manifests"
    return found


def test_one_page_per_alert_and_no_page_without_one() -> None:
    expected = alert_names() | {FAILED, AWAITING}
    assert set(PAGES) == expected, (
        f"alerts without a page: {expected - set(PAGES)}; pages without an alert: "
        f"{set(PAGES) - expected}"
    )


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_has_every_section_in_order(name: str) -> None:
    text = PAGES[name]
    assert text.startswith(f"# {name}\n"), "the title is the alert name"
    at = [text.find(f"\n{heading}") for heading in SECTIONS]
    missing = [h for h, i in zip(SECTIONS, at, strict=True) if i < 0]
    assert not missing, f"missing sections: {missing}"
    assert at == sorted(at), "sections out of order"
    for heading in SECTIONS:
        assert section(text, heading).strip(), f"{heading} is empty"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_do_it_by_hand_is_numbered_and_ends_verified(name: str) -> None:
    found = steps(section(PAGES[name], "## Do it by hand"))
    assert len(found) >= 2, "a numbered list of at least two steps"
    numbers = [int(s.split(".", 1)[0]) for s in found]
    assert numbers == list(range(1, len(found) + 1)), f"steps numbered {numbers}"
    assert any(re.match(r"\d+\. \**Verify", s) for s in found), "no step starts with Verify"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_links_the_shared_pause_page(name: str) -> None:
    assert f"]({PAUSE_PAGE})" in section(PAGES[name], "## Stop the remediator")
    # the kill-switch block lives on the shared page only
    assert KILL_SWITCH not in PAGES[name]


def test_the_pause_page_names_every_kill_switch() -> None:
    text = (RUNBOOKS / PAUSE_PAGE).read_text(encoding="utf-8")
    assert KILL_SWITCH in text
    for needed in (
        "kubectl -n torghut annotate flinkdeployment torghut-ta torghut.io/remediation-paused=",
        "ta-remediator pause --reason",
        "ta-remediator resume --reason",
        "remediator.paused: true",
        "torghut_ta_remediation_paused == 1",
        "remediator.mode: observe",
    ):
        assert needed in text, needed


@pytest.mark.parametrize("name", sorted(PAGES))
def test_gitops_files_and_fields_exist_in_the_seeded_repo(
    name: str, seeded: dict[str, dict[str, Any]]
) -> None:
    block = section(PAGES[name], "## Do it by hand")
    block_files = GITOPS_FILE.findall(block)
    for path in block_files:
        assert path in seeded, f"{path} is not in the seeded GitOps repository"
    if component(PAGES[name]) in PIPELINE_COMPONENTS:
        assert block_files, "a pipeline alert's by-hand block names the GitOps file to change"
    for step in steps(block):
        files = GITOPS_FILE.findall(step)
        docs = [seeded[f] for f in (files or block_files or list(seeded))]
        for field in FIELD.findall(step):
            assert any(resolves(d, field.split(".")) for d in docs), (
                f"{field} is not a field of {files or block_files or 'any seeded manifest'}: "
                f"{step[:80]!r}"
            )
        if files:
            known = set().union(*(names_in(d) for d in docs))
            for key in ENV_OR_KEY.findall(step):
                assert key in known, f"{key} is no env name or ConfigMap key of {files}"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_emergency_patches_touch_seeded_fields_and_warn_about_self_heal(
    name: str, seeded: dict[str, dict[str, Any]]
) -> None:
    block = section(PAGES[name], "## Do it by hand")
    patches = PATCH.findall(block)
    for kind, obj, how, body in patches:
        target = PATCH_TARGETS.get((kind, obj))
        assert target, f"kubectl patch {kind} {obj}: not an object of the seeded repository"
        doc = seeded[f"{gitops.APP_PATH}/{target}"]
        body = re.sub(r"<[^>]+>", "0", body)
        if how == "merge":
            paths = _leaf_paths(json.loads(body))
        else:
            paths = [op["path"].strip("/").split("/") for op in json.loads(body)]
        for path in paths:
            assert _at(doc, path), f"{kind} {obj}: {'.'.join(path)} is not in {target}"
    if patches:
        assert SELF_HEAL_WARNING in block


def _leaf_paths(patch: Any, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    if not isinstance(patch, dict):
        return [list(prefix)]
    return [p for k, v in patch.items() for p in _leaf_paths(v, (*prefix, k))]


def _at(node: Any, path: list[str]) -> bool:
    for part in path:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    return True


@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_nonce_bump_is_never_the_whole_restart(name: str) -> None:
    """A suspended job comes back only with spec.job.state running; a nonce bump alone does not
    start it (measured on the sandbox's operator)."""
    for step in steps(section(PAGES[name], "## Do it by hand")):
        bumps = re.search(
            r"bump.{0,30}restartNonce|restartNonce.{0,30}bump|\"restartNonce\":", step, re.S
        )
        if bumps:
            assert "spec.job.state" in step and "running" in step, step[:120]


def test_disk_pages_carry_the_full_disk_facts() -> None:
    for name in ("TAClickHouseDiskPressure", "TAFlinkJobFailed"):
        block = section(PAGES[name], "## Do it by hand")
        for fact in ("Code 243", "DROP PARTITION", "TRUNCATE", "DROP DETACHED PARTITION", "grow"):
            assert fact in block, f"{name}: {fact!r} missing from the by-hand block"


def test_restore_replica_follows_restart_on_the_read_only_replica() -> None:
    block = section(PAGES["TAClickHouseReplicaReadOnly"], "## Do it by hand")
    assert "read-only replica" in block
    statements = re.findall(r"SYSTEM (RESTART|RESTORE) REPLICA ([\w.]+)", block)
    restores = [t for kind, t in statements if kind == "RESTORE"]
    assert restores
    for table in restores:
        first_restart = statements.index(("RESTART", table))
        assert first_restart < statements.index(("RESTORE", table)), table


@pytest.mark.parametrize("name", sorted(PAGES))
def test_escalate_says_when(name: str) -> None:
    text = section(PAGES[name], "## Escalate")
    assert re.search(r"\d+ (minutes?|hours?)|at once", text), "say when to escalate"
    if component(PAGES[name]) == "trading":
        assert "trading desk" in text and "at once" in text


@pytest.mark.parametrize("name", sorted(PAGES))
def test_no_dangerous_kafka_advice(name: str) -> None:
    """The alerting group is the live TA_GROUP_ID, and a topic operator reverts kafka-configs."""
    text = PAGES[name]
    assert not re.search(r"kafka-consumer-groups(\.sh)?[^\n]*--delete", text)
    assert not re.search(r"kafka-configs(\.sh)?[^\n]*--alter", text)


def test_expiring_data_page_changes_retention_through_gitops() -> None:
    text = PAGES["TAKafkaUnconsumedDataExpiring"]
    assert "TA_GROUP_ID" in text and "topic operator" in text
    assert "retention.ms" in section(text, "## Do it by hand")


@pytest.mark.parametrize("name", sorted(procedures()))
def test_what_the_remediator_does_follows_intake(name: str) -> None:
    """remediator/intake.py acts on procedure A or B and on the trading gate's alert only: every
    other alert's page says it does nothing; the others say what each mode does, off included."""
    text = section(PAGES[name], "## What the remediator does")
    if name == TRADING_GATE_ALERT or procedures()[name] & {"A", "B"}:
        for mode in ("**off**", "**observe**", "**propose**", "**auto**"):
            assert mode in text, f"{name}: what it does in mode {mode}"
    else:
        assert text.lstrip().startswith("Nothing"), f"{name}: intake ignores it"
