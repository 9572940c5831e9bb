"""Docs cite only what the repository holds: no design document or runbook kept elsewhere, every
relative link leads to a file (and heading) of the repository, every repository path named in
backticks exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", ".venv-checkov", ".cache", ".sandbox", "node_modules", ".mypy_cache"}
# what a reader cannot open: files kept outside the repository
OUTSIDE = re.compile(r"DESIGN\.md|\.\./shared/|/work/shared|operations-ta-replay-and-recovery\.md")
LINK = re.compile(r"\]\(([^)\s]+)\)")
TOP_DIRS = ("alerts", "bench", "dashboards", "docs", "exporter", "helm", "remediator", "sandbox",
            "tests")  # fmt: skip
REPO_PATH = re.compile(rf"`((?:{'|'.join(TOP_DIRS)})/[A-Za-z0-9_./-]+\.[a-z]+)`")


def _files(*patterns: str) -> list[Path]:
    found = []
    for pattern in patterns:
        for path in REPO.glob(pattern):
            if path.is_file() and not SKIP_DIRS & set(path.relative_to(REPO).parts):
                found.append(path)
    return sorted(set(found))


DOCS = _files("*.md", "docs/**/*.md", "alerts/**/*.md", "dashboards/**/*.md", "helm/**/*.md",
              "helm/**/NOTES.txt", "bench/**/*.md")  # fmt: skip
SOURCES = _files("exporter/**/*.py", "remediator/**/*.py", "sandbox/**/*.py", "dashboards/**/*.py",
                 "alerts/**/*.yml", "helm/**/*.yaml", "helm/**/*.tpl")  # fmt: skip


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO)) for p in paths]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def test_there_are_docs_to_check() -> None:
    assert REPO / "README.md" in DOCS and REPO / "docs" / "runbooks" / "README.md" in DOCS
    assert REPO / "remediator" / "procedures.py" in SOURCES


@pytest.mark.parametrize("path", DOCS + SOURCES, ids=_ids(DOCS + SOURCES))
def test_nothing_outside_the_repository_is_cited(path: Path) -> None:
    hits = [
        f"line {n}: {line.strip()}"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not hits, "cites a file that is not in the repository:\n" + "\n".join(hits)


@pytest.mark.parametrize("path", DOCS, ids=_ids(DOCS))
def test_relative_links_lead_into_the_repository(path: Path) -> None:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        assert dest.is_relative_to(REPO) and dest.exists(), f"{target}: no such file"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), f"{target}: no heading #{anchor} in {dest.name}"


@pytest.mark.parametrize("path", DOCS, ids=_ids(DOCS))
def test_repository_paths_in_backticks_exist(path: Path) -> None:
    for named in REPO_PATH.findall(path.read_text(encoding="utf-8")):
        assert (REPO / named).exists(), f"`{named}` is not in the repository"
