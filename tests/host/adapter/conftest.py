"""Shared by the adapter tests: the embedded model read once per session (about 15 s, 1.1 GB)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

# before torch loads OpenMP (host/adapter/__init__.py says why)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

PROMPT = ('Request: a tip calculator that splits the bill\nApp: {"title":"Tip Calculator","state":['
          '{"name":"bill","type":"number"},{"name":"people","type":"number","init":"2"}],"view":['
          '{"kind":"input","label":"Bill","var":"bill"},{"kind":"text","label":"Each pays",'
          '"value":"fixed(bill / people, 2)"}]}\n')


@pytest.fixture(scope="session")
def base_path() -> Path:
    from llmos.host.adapter.weights import embedded_model_path

    return embedded_model_path()


@pytest.fixture(scope="session")
def base(base_path: Path) -> Any:
    pytest.importorskip("gguf")
    from llmos.host.adapter.weights import load_base

    return load_base(base_path)


@pytest.fixture(scope="session")
def tokenizer(base_path: Path) -> Any:
    from llmos.host.adapter.tokens import Tokenizer

    return Tokenizer(base_path)
