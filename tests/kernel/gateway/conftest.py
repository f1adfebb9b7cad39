"""Gateway fixtures: an isolated state dir per test, the real local model loaded once per session, and
the Anthropic wire stub (tests/kernel/gateway/anthropic_stub.py) on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmos.kernel.gateway import Gateway, GatewaySettings
from llmos.kernel.gateway.ledger import Ledger
from llmos.kernel.gateway.local import LocalModel

from .anthropic_stub import Stub


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLMOS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LLMOS_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("LLMOS_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    return tmp_path


@pytest.fixture(scope="session")
def local_model() -> Iterator[LocalModel]:
    """The real embedded Gemma 3 270M, loaded once (about 1 s, plus hashing the 250 MB file)."""
    model = LocalModel(GatewaySettings(local_threads=2, local_context=1024))
    asyncio.run(model.load())
    yield model


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub().start()
    yield server
    server.stop()


def make_gateway(local: LocalModel | None = None, stub: Stub | None = None, **overrides: object) -> Gateway:
    values: dict[str, object] = {"local_max_tokens": 80, "cloud_max_retries": 2, "cloud_timeout": 10.0,
                                 "cloud_model": "claude-sonnet-4-6"}
    if stub is not None:
        values.update(anthropic_api_key="sk-test", anthropic_base_url=stub.url)
    values.update(overrides)
    gateway = Gateway(GatewaySettings.load(values), Ledger())
    if local is not None:
        gateway.local = local  # share the session's loaded model (its asyncio locks are loop-agnostic)
    return gateway
