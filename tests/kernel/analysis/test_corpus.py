"""The analysis corpus: every rejected file names its exact findings in a header
(`// expect: rule@line:col, ...`), every accepted file and every starter app passes clean."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmos.kernel.analysis import RULES, analyse
from llmos.kernel.starter import STARTERS

CORPUS = Path(__file__).parent / "corpus"


def _header(source: str, name: str) -> list[str]:
    match = re.search(rf"^// {name}: (.*)$", source, re.M)
    return [item.strip() for item in match.group(1).split(",") if item.strip()] if match else []


def _cases(kind: str) -> list[Path]:
    return sorted((CORPUS / kind).glob("*.ts"))


@pytest.mark.parametrize("path", _cases("rejected"), ids=lambda p: p.stem)
def test_rejected_files_report_exactly_the_expected_findings(path: Path) -> None:
    source = path.read_text()
    expected = _header(source, "expect")
    assert expected, f"{path.name} has no // expect: header"
    report = analyse(source, _header(source, "manifest"))
    found = [f"{f.rule}@{f.line}:{f.col}" for f in report.findings]
    assert sorted(found) == sorted(expected), report.diagnostics()
    assert not report.ok


@pytest.mark.parametrize("path", _cases("accepted"), ids=lambda p: p.stem)
def test_accepted_files_pass(path: Path) -> None:
    source = path.read_text()
    report = analyse(source, _header(source, "manifest"))
    assert report.ok, report.diagnostics()
    assert set(report.capabilities) == set(_header(source, "manifest"))


def test_corpus_covers_every_rule() -> None:
    seen = set()
    for path in _cases("rejected"):
        seen |= {item.split("@")[0] for item in _header(path.read_text(), "expect")}
    assert seen == set(RULES)


@pytest.mark.parametrize("starter", STARTERS, ids=lambda s: s.name)
def test_starter_apps_pass_with_their_manifest(starter) -> None:
    report = analyse(starter.code, starter.manifest)
    assert report.ok, report.diagnostics()
    assert set(report.capabilities) == set(starter.capabilities)
