"""Fixtures for the shell tests; the machinery is in harness.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .harness import Desktop


@pytest.fixture(scope="module")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desktop]:
    running = Desktop(tmp_path_factory.mktemp("shell"), toast_ms=2500)
    try:
        running.start_kernel()
        yield running
    finally:
        running.close()
