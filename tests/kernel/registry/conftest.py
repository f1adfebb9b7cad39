from __future__ import annotations

from pathlib import Path

import pytest

from llmos.kernel.registry import Registry


@pytest.fixture
def registry(tmp_path: Path):
    with Registry(tmp_path / "state") as opened:
        yield opened


def app(n: int | str) -> str:
    return (f"import {{ ui }} from '@llm-os/sdk';\n"
            f"export default function App() {{ return ui.Window({{ title: 'App {n}' }}, []); }}\n")
