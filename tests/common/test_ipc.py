"""llmos.ipc over a real Unix socket: errors come back as replies, and a subscriber that stops reading is
dropped instead of stalling everyone else's events."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from llmos import ipc


async def _serve(path: Path) -> ipc.Server:
    async def subscribe(connection: ipc.Connection, params: dict) -> bool:
        connection.subscriptions.add("tick")
        return True

    async def boom(connection: ipc.Connection, params: dict) -> None:
        raise RuntimeError("handler bug")

    server = ipc.Server({"subscribe": subscribe, "boom": boom})
    await server.start(path)
    return server


def test_bad_requests_get_error_replies_and_the_server_survives(tmp_path: Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "s.sock"
        server = await _serve(path)
        reader, writer = await asyncio.open_unix_connection(str(path))
        cases = ((b"not json\n", "bad-request"), (b'{"id": 1, "method": "nope"}\n', "no-such-method"),
                 (b'{"id": 2, "method": "boom"}\n', "internal"))
        for line, code in cases:
            writer.write(line)
            answer = json.loads(await asyncio.wait_for(reader.readline(), 5))
            assert answer["error"]["code"] == code, answer
        client = await ipc.Client.connect(path)
        assert await client.call("subscribe") is True
        await client.close()
        writer.close()
        await server.close()

    asyncio.run(scenario())


def test_a_stalled_subscriber_is_dropped_and_others_keep_receiving(tmp_path: Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "s.sock"
        server = await _serve(path)
        stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(str(path))
        stalled.sendall(b'{"id": 1, "method": "subscribe"}\n')  # then never reads again
        reader = await ipc.Client.connect(path)
        await reader.call("subscribe")
        payload = "x" * 64 * 1024
        for number in range(200):  # ~13 MB: far past what the stalled peer's buffers can hold
            await server.broadcast("tick", {"n": number, "pad": payload})
            name, data = await asyncio.wait_for(reader.events.get(), 5)
            assert (name, data["n"]) == ("tick", number)
        assert len(server.connections) == 1  # the stalled subscriber was disconnected
        stalled.close()
        await reader.close()
        await server.close()

    asyncio.run(scenario())


class Counter:
    """A service declared the one way: @ipc.rpc methods, served by ipc.handlers(self)."""

    def __init__(self) -> None:
        self.count = 0

    @ipc.rpc("count.add")
    async def rpc_count_add(self, connection: ipc.Connection, params: dict) -> int:
        step = params.get("step", 1)
        if not isinstance(step, int):
            raise ipc.RpcError(ipc.ErrorCode.BAD_REQUEST, "step is an integer")
        self.count += step
        return self.count

    async def helper(self, connection: ipc.Connection, params: dict) -> None:  # not declared: not served
        raise AssertionError("never called")


def test_declared_methods_are_served_and_errors_use_the_one_vocabulary(tmp_path: Path) -> None:
    async def scenario() -> None:
        counter = Counter()
        assert set(ipc.handlers(counter)) == {"count.add"}
        server = ipc.Server(ipc.handlers(counter))
        await server.start(tmp_path / "s.sock")
        client = await ipc.Client.connect(tmp_path / "s.sock")
        try:
            assert await client.call("count.add", step=2) == 2
            with pytest.raises(ipc.RpcError) as bad:
                await client.call("count.add", step="x")
            assert bad.value.code is ipc.ErrorCode.BAD_REQUEST and bad.value.message == "step is an integer"
            with pytest.raises(ipc.RpcError) as undeclared:
                await client.call("helper")
            assert undeclared.value.code is ipc.ErrorCode.NO_SUCH_METHOD
        finally:
            await client.close()
            await server.close()

    asyncio.run(scenario())


def test_a_subclass_overrides_and_two_claims_on_one_name_are_refused() -> None:
    class Doubler(Counter):
        @ipc.rpc("count.add")
        async def rpc_count_add(self, connection: ipc.Connection, params: dict) -> int:
            self.count += 2
            return self.count

    doubler = Doubler()
    assert asyncio.run(ipc.handlers(doubler)["count.add"](None, {})) == 2  # type: ignore[arg-type]

    class Clash(Counter):
        @ipc.rpc("count.add")
        async def rpc_again(self, connection: ipc.Connection, params: dict) -> int:
            return 0

    with pytest.raises(ValueError, match=r"count\.add"):
        ipc.handlers(Clash())


def test_an_unknown_error_code_from_a_peer_is_kept() -> None:
    known = ipc.RpcError.from_reply({"code": "denied", "message": "no"})
    assert known.code is ipc.ErrorCode.DENIED and str(known) == "denied: no"
    unknown = ipc.RpcError.from_reply({"code": "brand-new", "message": "later"})
    assert unknown.code == "brand-new" and str(unknown) == "brand-new: later"


def test_wait_closed_returns_once_the_server_hangs_up(tmp_path: Path) -> None:
    async def scenario() -> None:
        async def ping(connection: ipc.Connection, params: dict) -> str:
            return "pong"

        async def bye(connection: ipc.Connection, params: dict) -> bool:
            asyncio.get_running_loop().call_soon(connection.writer.close)  # after the answer is sent
            return True

        path = tmp_path / "s.sock"
        server = ipc.Server({"ping": ping, "bye": bye})
        await server.start(path)
        client = await ipc.Client.connect(path)
        impatient = asyncio.ensure_future(client.wait_closed())
        await asyncio.sleep(0)  # let it start waiting
        impatient.cancel()
        assert await client.call("ping") == "pong", "cancelling a waiter leaves the connection open"
        assert await client.call("bye") is True
        await asyncio.wait_for(client.wait_closed(), 5)
        with pytest.raises(ConnectionError):
            await client.call("ping")
        await client.close()
        await server.close()

    asyncio.run(scenario())
