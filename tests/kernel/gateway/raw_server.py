"""A misbehaving OpenAI-compatible server on 127.0.0.1, written on raw asyncio streams so that it can do
what no real server does on purpose: answer HTTP 500, send a malformed or endless stream, stop before
the answer ends. It runs in the test's own event loop and records every request and every client that
hung up while it was still streaming (`disconnects`).

    async with RawServer(sse(["Hello", " world"])) as server:
        ... base_url=server.url ...
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

MODEL = "fake-model"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


Handler = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]


def chunk(text: str | None = None, finish: str | None = None, usage: dict[str, int] | None = None) -> str:
    """One chat.completion.chunk as a `data:` line's payload."""
    choices = [] if text is None and finish is None else [
        {"index": 0, "delta": {"content": text} if text is not None else {}, "finish_reason": finish}]
    body: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
                            "choices": choices}
    if usage:
        body["usage"] = usage
    return json.dumps(body)


async def _head(writer: asyncio.StreamWriter, status: int, kind: str, length: int | None = None) -> None:
    lines = [f"HTTP/1.1 {status} X", f"content-type: {kind}", "connection: close"]
    if length is not None:
        lines.append(f"content-length: {length}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()


def sse(pieces: list[str], *, finish: str | None = "stop", usage: dict[str, int] | None = None,
        done: bool = True, raw: list[str] | None = None) -> Handler:
    """Stream `pieces` as deltas, then a finish chunk, the usage and [DONE] (each optional). `raw`
    lines are sent as they are, after the pieces (for malformed data)."""
    async def handle(_request: Request, writer: asyncio.StreamWriter) -> None:
        await _head(writer, 200, "text/event-stream")
        events = [chunk(piece) for piece in pieces]
        if finish:
            events.append(chunk(finish=finish))
        if usage:
            events.append(chunk(usage=usage))
        events += raw or []
        if done:
            events.append("[DONE]")
        for event in events:
            writer.write(f"data: {event}\n\n".encode())
            await writer.drain()
    return handle


def status(code: int, message: str = "boom") -> Handler:
    async def handle(_request: Request, writer: asyncio.StreamWriter) -> None:
        body = json.dumps({"error": {"message": message, "type": "server_error"}}).encode()
        await _head(writer, code, "application/json", len(body))
        writer.write(body)
    return handle


def endless(every: float = 0.02) -> Handler:
    """A token every `every` seconds, forever: only a deadline or the client hanging up stops it."""
    async def handle(_request: Request, writer: asyncio.StreamWriter) -> None:
        await _head(writer, 200, "text/event-stream")
        while True:
            writer.write(f"data: {chunk('la ')}\n\n".encode())
            await writer.drain()
            await asyncio.sleep(every)
    return handle


@dataclass
class RawServer:
    handler: Handler
    models: list[str] = field(default_factory=lambda: [MODEL])
    requests: list[Request] = field(default_factory=list)
    disconnects: int = 0
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    @property
    def completions(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _read(self, reader: asyncio.StreamReader) -> Request:
        first = await reader.readexactly(1)
        if first == b"\x16":  # a TLS ClientHello: this server speaks plain HTTP only
            raise ConnectionError("TLS to a plain HTTP server")
        head = (first + await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, path, _version = head[0].split(" ", 2)
        pairs = (line.partition(":") for line in head[1:] if line)
        headers = {key.strip().lower(): value.strip() for key, _, value in pairs}
        length = int(headers.get("content-length", "0"))
        body = json.loads(await reader.readexactly(length)) if length else {}
        return Request(method, path, headers, body)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await self._read(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.write(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n")
            writer.close()
            return
        self.requests.append(request)
        if request.method == "GET" and request.path.endswith("/models"):
            body = json.dumps({"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]})
            await _head(writer, 200, "application/json", len(body))
            writer.write(body.encode())
            writer.close()
            return
        # The client's side of the socket: EOF (b"") means it hung up while the answer was under way.
        hangup = asyncio.ensure_future(reader.read(1))
        answer = asyncio.ensure_future(self.handler(request, writer))
        done, _ = await asyncio.wait({hangup, answer}, return_when=asyncio.FIRST_COMPLETED)
        cut = answer in done and isinstance(answer.exception(), ConnectionError)
        if cut or (hangup in done and not answer.done()):
            self.disconnects += 1
            self.hung_up.set()
        for task in (hangup, answer):
            task.cancel()
        await asyncio.gather(hangup, answer, return_exceptions=True)
        writer.close()
