"""checkov on the rendered chart: every finding is fixed or a documented exception.

checkov lives in its own virtual environment (`.venv-checkov`, made by scripts/ensure-deps.sh)
because its pins clash with the project's. A missing checkov fails these tests.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

Finding = tuple[str, str]  # (check id, resource kind)


def _checkov(repo: Path) -> Path:
    binary = repo / ".venv-checkov" / "bin" / "checkov"
    assert binary.exists(), f"{binary} is missing: run scripts/ensure-deps.sh"
    return binary


def _exceptions(repo: Path) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load((repo / "helm" / "checkov-exceptions.yaml").read_text())
    return {e["id"]: e for e in data["exceptions"]}


def _scan(kit, values: dict[str, Any], out: Path, **render: Any) -> set[Finding]:
    out.mkdir()
    for path, text in kit.render_text(values, **render).items():
        if not path.endswith("NOTES.txt"):
            (out / path.replace("/", "_")).write_text(text)
    done = subprocess.run(
        [
            str(_checkov(kit.repo)),
            "--directory",
            str(out),
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--quiet",
            "--compact",
            "--skip-download",  # offline: no guideline or policy download
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    # checkov exits 1 when a check fails; anything else is a broken run
    assert done.returncode in (0, 1), done.stderr[-2000:]
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert reports and reports[0]["summary"]["resource_count"] > 0, done.stdout[:500]
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports)
    return {
        (f["check_id"], f["resource"].split(".", 1)[0])
        for r in reports
        for f in r["results"]["failed_checks"]
    }


def every_component(kit) -> dict[str, Any]:
    # production values with the remediator acting (auto: its webhook token, two API tokens,
    # the GitHub, Argo CD, ClickHouse and Alertmanager credentials, egress to those peers)
    values = copy.deepcopy(kit.value_sets["production-auto"])
    assert values["remediator"]["enabled"] is True and values["remediator"]["mode"] == "auto"
    return values


@pytest.fixture(scope="module")
def findings(kit, tmp_path_factory) -> dict[str, set[Finding]]:
    base = tmp_path_factory.mktemp("checkov")
    return {
        "production": _scan(kit, every_component(kit), base / "production"),
        "defaults": _scan(kit, {"remediator": {"enabled": True}}, base / "defaults"),
    }


def _undocumented(found: set[Finding], allowed: dict[str, dict[str, Any]]) -> set[Finding]:
    return {(cid, kind) for cid, kind in found if kind not in allowed.get(cid, {}).get("kinds", [])}


def test_production_render_has_only_the_always_exceptions(findings, kit) -> None:
    exceptions = _exceptions(kit.repo)
    always = {cid: e for cid, e in exceptions.items() if e["scope"] == "always"}
    assert _undocumented(findings["production"], always) == set()
    # no stale entries: each "always" exception still matches a finding
    assert {cid for cid, _ in findings["production"]} == set(always)


def test_default_render_has_only_documented_exceptions(findings, kit) -> None:
    exceptions = _exceptions(kit.repo)
    assert _undocumented(findings["defaults"], exceptions) == set()
    assert {cid for cid, _ in findings["defaults"]} == set(exceptions)


def test_the_gate_catches_an_undocumented_finding(kit, tmp_path) -> None:
    # Dropping the hardening must surface as findings the exception list does not cover.
    broken = tmp_path / "chart"
    shutil.copytree(kit.chart_dir, broken, symlinks=False)
    helpers = broken / "templates" / "_helpers.tpl"
    helpers.write_text(
        helpers.read_text().replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")
    )
    found = _scan(kit, every_component(kit), tmp_path / "rendered", chart_dir=broken)
    assert ("CKV_K8S_22", "Deployment") in _undocumented(found, _exceptions(kit.repo))


def test_every_exception_is_explained_in_the_security_doc(kit) -> None:
    doc = (kit.repo / "docs" / "security.md").read_text()
    for cid, exception in _exceptions(kit.repo).items():
        assert cid in doc, f"docs/security.md does not explain {cid}"
        assert exception["reason"].strip(), cid
