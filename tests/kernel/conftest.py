from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import System, running_system


@pytest.fixture(scope="session")
def wasm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("quickjs")
    path.chmod(0o700)
    return path


@pytest.fixture(scope="module")
def system(wasm_cache: Path) -> Iterator[System]:
    """One compositor + one kernel (desktop mode) shared by a test module, started on first boot."""
    with running_system(wasm_cache) as running:
        yield running
