"""llmos.ipc over a real Unix socket: errors come back as replies, and a subscriber that stops reading is
dropped instead of stalling everyone else's events."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

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
