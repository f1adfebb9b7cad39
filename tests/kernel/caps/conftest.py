"""A real capability authority (Biscuit keys, SQLite audit and revocations) in a temp state dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llmos.kernel.caps import Authority, open_authority


@pytest.fixture
def authority(tmp_path: Path) -> Iterator[Authority]:
    auth = open_authority(tmp_path)
    yield auth
    auth.audit.close()
    auth.revocations.close()
