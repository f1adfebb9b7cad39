"""The broker's per-call rule over its Unix socket, called the way an app host calls it (one blocking
SyncClient, the token on every call): the Biscuit is verified once per token, and every call still
checks expiry, revocation and scope, so a revocation or an expiry refuses the very next call."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from llmos.ipc import RpcError, Server
from llmos.kernel.caps import Authority, open_authority
from llmos.kernel.sandbox.broker import Broker
from llmos.kernel.sandbox.storage import AppStorage
from llmos.kernel.sandbox.syncrpc import SyncClient


class Clock:
    """The authority's wall clock, moved by the test instead of waited for."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Side:
    authority: Authority
    broker: Broker
    clock: Clock
    client: SyncClient
    verifications: list[str]

    async def call(self, method: str, **params: Any) -> Any:
        """One app call from a thread: the server runs in this event loop."""
        return await asyncio.to_thread(self.client.call, method, **params)

    async def refused(self, method: str, **params: Any) -> RpcError:
        with pytest.raises(RpcError) as error:
            await self.call(method, **params)
        assert error.value.code == "denied"
        return error.value


@contextlib.asynccontextmanager
async def kernel_side(state: Path, socket: Path) -> AsyncIterator[Side]:
    clock = Clock()
    authority = open_authority(state)
    authority.clock = clock
    verifications: list[str] = []
    verify = authority._verify

    def counted(token: str, now: Any) -> Any:
        verifications.append(token)
        return verify(token, now)
    authority._verify = counted  # type: ignore[method-assign]
    broker = Broker(authority, AppStorage(state / "apps"))
    server = Server({**broker.handlers(), **broker.admin_handlers()})
    await server.start(socket)
    client = await asyncio.to_thread(SyncClient, socket)
    try:
        yield Side(authority, broker, clock, client, verifications)
    finally:
        client.close()
        await server.close()
        authority.audit.close()
        authority.revocations.close()
        broker.storage.close()


def run(coro: Any) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))


def test_the_token_is_verified_once_and_a_revocation_refuses_the_very_next_call(tmp_path, short_dir):
    async def scenario() -> None:
        async with kernel_side(tmp_path / "state", short_dir / "kernel.sock") as side:
            token = side.authority.mint("notes", ["storage:local"])
            await side.call("app.storage.set", token=token, key="a", value='"1"')
            for _ in range(20):
                assert await side.call("app.storage.get", token=token, key="a") == '"1"'
            assert side.verifications == [token]  # the Biscuit once; the cheap checks on every call

            await side.broker.revoke(token, "user pressed revoke")
            error = await side.refused("app.storage.get", token=token, key="a")
            assert "revoked" in error.message
            denials = side.authority.audit.entries(app="notes", decision="deny")
            assert denials[0].what == "storage.get a" and denials[0].reason.startswith("revoked")
    run(scenario())


def test_revoking_a_parent_refuses_the_next_call_of_a_token_derived_from_it(tmp_path, short_dir):
    async def scenario() -> None:
        async with kernel_side(tmp_path / "state", short_dir / "kernel.sock") as side:
            parent = side.authority.mint("notes", ["storage:local", "clipboard:read"])
            child = await side.call("app.caps.attenuate", token=parent, scopes=["storage:local"])
            assert await side.call("app.storage.get", token=child, key="a") is None
            side.authority.revoke(parent, "the parent goes")
            assert "revoked" in (await side.refused("app.storage.get", token=child, key="a")).message
    run(scenario())


def test_an_expired_token_is_refused_on_the_next_call(tmp_path, short_dir):
    async def scenario() -> None:
        async with kernel_side(tmp_path / "state", short_dir / "kernel.sock") as side:
            token = side.authority.mint("notes", ["storage:local"], ttl=timedelta(seconds=60))
            assert await side.call("app.storage.get", token=token, key="a") is None
            side.clock.now += 61  # no re-verification happens: the cached grant's expiry is read
            error = await side.refused("app.storage.get", token=token, key="a")
            assert "expired" in error.message
            assert side.verifications == [token]
            denials = side.authority.audit.entries(app="notes", decision="deny")
            assert denials[0].reason.startswith("expired")
    run(scenario())


def test_scope_is_checked_on_every_call_of_a_verified_token(tmp_path, short_dir):
    async def scenario() -> None:
        async with kernel_side(tmp_path / "state", short_dir / "kernel.sock") as side:
            token = side.authority.mint("notes", ["storage:local"])
            assert await side.call("app.storage.get", token=token, key="a") is None
            for _ in range(3):
                error = await side.refused("app.clipboard.read", token=token)
                assert "clipboard:read" in error.message and "not granted" in error.message
            assert await side.call("app.storage.get", token=token, key="a") is None
            assert len(side.authority.audit.entries(app="notes", decision="deny")) == 3
    run(scenario())
