from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from .halnet import Pair, make_pair


@pytest.fixture
def pair() -> Iterator[Pair]:
    """A fresh client/server namespace pair, removed afterwards whatever happened."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    created = make_pair()
    try:
        yield created
    finally:
        created.close()
