"""A real kernel side (authority, broker, llmos.ipc server on a Unix socket) in the test's event
loop, and real app host processes launched through the manager."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from llmos.ipc import Server
from llmos.kernel.caps import Authority, open_authority
from llmos.kernel.sandbox.broker import Broker
from llmos.kernel.sandbox.limits import GuestLimits
from llmos.kernel.sandbox.manager import AppManager
from llmos.kernel.sandbox.storage import AppStorage

APPS = Path(__file__).resolve().parents[2] / "sdk" / "apps"


@dataclass
class Kernel:
    authority: Authority
    broker: Broker
    manager: AppManager
    socket: Path

    def denials(self, app: str | None = None) -> list:
        return self.authority.audit.entries(app=app, decision="deny")


@pytest.fixture(scope="session")
def wasm_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("wasm")


@pytest.fixture
def short_dir():
    """Unix socket paths are limited to 108 bytes; pytest's tmp_path can be longer."""
    path = Path(tempfile.mkdtemp(prefix="llt"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make_kernel(tmp_path, short_dir, wasm_cache):
    @contextlib.asynccontextmanager
    async def start(limits: GuestLimits | None = None, quota: int = 64 * 1024,
                    prefork: bool = False) -> AsyncIterator[Kernel]:
        authority = open_authority(tmp_path / "state")
        broker = Broker(authority, AppStorage(tmp_path / "state" / "apps", quota_bytes=quota))
        server = Server({**broker.handlers(), **broker.admin_handlers()}, mode=0o666)
        socket = short_dir / "kernel.sock"
        await server.start(socket)
        os.chmod(short_dir, 0o755)  # confined hosts keep their already-open fds; nothing else needed
        manager = AppManager(socket, limits=limits, cache_dir=wasm_cache, run_dir=short_dir / "apps",
                             confine=True, uid_table=tmp_path / "state" / "sandbox" / "uids.json",
                             prefork=prefork)
        if manager.prefork is not None:
            await manager.warm()
            assert await manager.prefork.until_ready(60), "the zygote did not come up"
        try:
            yield Kernel(authority, broker, manager, socket)
        finally:
            await manager.stop_all()
            await server.close()
            authority.audit.close()
            authority.revocations.close()
            broker.storage.close()
    return start


def app_source(name: str) -> str:
    return (APPS / name).read_text()
