"""docs/settings.md is generated from the declarations; regenerate it with
`python -m llmos.settings --markdown > docs/settings.md`."""

from __future__ import annotations

from pathlib import Path

from llmos.settings import SECTIONS, declarations
from llmos.settings.markdown import markdown

DOCS = Path(__file__).resolve().parents[3] / "docs" / "settings.md"


def test_committed_docs_match_the_declarations() -> None:
    assert DOCS.read_text(encoding="utf-8") == markdown(), (
        "docs/settings.md is stale: run python -m llmos.settings --markdown > docs/settings.md")


def test_docs_name_every_setting() -> None:
    text = markdown()
    for name, section in SECTIONS.items():
        assert f"## [{name}]" in text
        for declaration in declarations(section):
            assert f"| `{declaration.name}` |" in text
