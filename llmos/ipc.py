"""JSON-lines RPC over Unix sockets: the one IPC format between LLM OS services and tools.

A request is `{"id": N, "method": "name", "params": {...}}`; the answer is `{"id": N, "result": ...}`
or `{"id": N, "error": {"code": "...", "message": "..."}}`. A server may also push
`{"event": "name", "data": {...}}` lines to a connection that subscribed. Lines are capped so that a
misbehaving peer cannot make a service buffer without bound.

Every service declares its methods the same way: `@rpc("name")` on an async method
`(self, connection, params)`, and `Server(handlers(service))` serves them. Errors use the codes in
`ErrorCode`, the one vocabulary of every LLM OS socket (docs/kernel-api.md lists them).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

MAX_LINE = 4 * 1024 * 1024
MAX_BACKLOG = 8 * 1024 * 1024  # pushed events a subscriber may leave unread before it is disconnected

Params = dict[str, object]  # a request's params as decoded: each handler checks what it reads
Handler = Callable[["Connection", Params], Awaitable[object]]
Method = TypeVar("Method", bound=Callable[..., Awaitable[object]])
_RPC_NAME = "__llmos_rpc__"


class ErrorCode(StrEnum):
    """The codes an error reply may carry. A code says what the caller can do about it; the message
    says, in plain words, what exactly was wrong."""

    BAD_REQUEST = "bad-request"          # not a request, or params the method does not take (message: which)
    TOO_LONG = "too-long"                # the line is over MAX_LINE; the server closes the connection
    NO_SUCH_METHOD = "no-such-method"    # nothing on this socket has that name
    INTERNAL = "internal"                # a bug in the handler; the service keeps serving
    DENIED = "denied"                    # a capability or the caller's uid does not allow it
    NEEDS_APPROVAL = "needs-approval"    # the user has not approved the app yet: start flow.run
    NOT_ASKED = "not-asked"              # an answer to a question the flow is not asking now
    TAMPERED = "tampered"                # a registry record failed its signature or hash check
    UNTRUSTED = "untrusted"              # signed by a key the user does not trust: confirm to run it anyway
    LAUNCH_FAILED = "launch-failed"      # the app host did not start
    NO_SUCH_APP = "no-such-app"          # no saved app has that hash, or no running app that id
    NO_SUCH_FLOW = "no-such-flow"
    NO_SUCH_WINDOW = "no-such-window"
    NO_SUCH_SERVICE = "no-such-service"
    NO_SHELL = "no-shell"                # the compositor runs without the OS shell


class RpcError(Exception):
    """An error the server reports back to the caller, with a stable code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: str = code
        self.message = message

    @classmethod
    def from_reply(cls, error: Mapping[str, object]) -> RpcError:
        """The error of a reply. A code this side does not know (a newer peer) is kept as its text."""
        raw, message = str(error.get("code") or ErrorCode.INTERNAL), str(error.get("message") or "")
        try:
            return cls(ErrorCode(raw), message)
        except ValueError:
            unknown = cls(ErrorCode.INTERNAL, message)
            unknown.code, unknown.args = raw, (f"{raw}: {message}",)
            return unknown


def rpc(name: str) -> Callable[[Method], Method]:
    """Declare an async method `(self, connection, params)` the handler of the RPC method `name`."""

    def declare(method: Method) -> Method:
        setattr(method, _RPC_NAME, name)
        return method

    return declare


def handlers(service: object) -> dict[str, Handler]:
    """The `@rpc` methods of `service`, bound, by RPC name. A subclass's method replaces the one it
    overrides; two methods declaring the same name is a mistake and raises."""
    found: dict[str, Handler] = {}
    seen: set[str] = set()
    for klass in type(service).__mro__:
        for attribute, value in vars(klass).items():
            if attribute in seen:
                continue
            seen.add(attribute)
            name = getattr(value, _RPC_NAME, None)
            if name is None:
                continue
            if name in found:
                raise ValueError(f"{type(service).__name__}: two methods declare the RPC method {name!r}")
            found[name] = getattr(service, attribute)
    return found


@dataclass(eq=False)
class Connection:
    """One client of a server; handlers may push events to it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    peer_uid: int | None = None
    subscriptions: set[str] = field(default_factory=set)

    async def send(self, message: Mapping[str, object]) -> None:
        self.writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        await self.writer.drain()

    async def push(self, event: str, data: object) -> None:
        """Events never wait for a slow reader, so one stalled subscriber cannot hold up the others:
        a connection that falls MAX_BACKLOG behind is dropped instead."""
        transport = self.writer.transport
        if transport.is_closing():
            return
        self.writer.write(json.dumps({"event": event, "data": data}, separators=(",", ":")).encode() + b"\n")
        if transport.get_write_buffer_size() > MAX_BACKLOG:
            transport.abort()


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    return int.from_bytes(creds[4:8], "little")


class Server:
    """Dispatches requests to `handlers[method]`; unknown methods and bad JSON get an error reply."""

    def __init__(self, handlers: Mapping[str, Handler], mode: int = 0o660) -> None:
        self.handlers = dict(handlers)
        self.mode = mode
        self.connections: set[Connection] = set()
        self._server: asyncio.AbstractServer | None = None

    async def start(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._server = await asyncio.start_unix_server(self._serve, path=str(path), limit=MAX_LINE)
        os.chmod(path, self.mode)

    async def close(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    async def broadcast(self, event: str, data: object) -> None:
        for connection in list(self.connections):
            if event in connection.subscriptions or "*" in connection.subscriptions:
                await connection.push(event, data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection(reader, writer, _peer_uid(writer))
        self.connections.add(connection)
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    await connection.send({"id": None, "error": {"code": ErrorCode.TOO_LONG,
                                                                 "message": "line over 4 MiB"}})
                    break
                if not line:
                    break
                await connection.send(await self._answer(connection, line))
        except ConnectionError:
            pass
        finally:
            self.connections.discard(connection)
            writer.close()

    async def _answer(self, connection: Connection, line: bytes) -> dict[str, object]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict) or not isinstance(request.get("method"), str):
                raise ValueError("a request is an object with a string 'method'")
        except (ValueError, RecursionError) as error:  # RecursionError: JSON nested thousands deep
            return {"id": None, "error": {"code": ErrorCode.BAD_REQUEST, "message": str(error)}}
        request_id = request.get("id")
        handler = self.handlers.get(request["method"])
        if handler is None:
            return {"id": request_id, "error": {"code": ErrorCode.NO_SUCH_METHOD,
                                                "message": f"unknown method {request['method']!r}"}}
        params = request.get("params") or {}
        try:
            return {"id": request_id, "result": await handler(connection, params)}
        except RpcError as error:
            return {"id": request_id, "error": {"code": error.code, "message": error.message}}
        except Exception as error:  # a handler bug must not take the service down
            return {"id": request_id, "error": {"code": ErrorCode.INTERNAL,
                                                "message": f"{type(error).__name__}: {error}"}}


class Client:
    """An asyncio client; `events` receives pushed events in arrival order."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, path: Path, timeout: float = 5.0) -> Client:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(str(path), limit=MAX_LINE), timeout)
        return cls(reader, writer)

    async def call(self, method: str, timeout: float | None = 30.0, **params: Any) -> Any:
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        line = json.dumps({"id": request_id, "method": method, "params": params}).encode() + b"\n"
        self._writer.write(line)
        await self._writer.drain()
        return await asyncio.wait_for(future, timeout)

    async def wait_closed(self) -> None:
        """Return once the connection is gone: the server closed it, or `close()` was called.
        Cancelling the waiter leaves the connection alone."""
        await asyncio.wait({self._task})

    async def close(self) -> None:
        self._task.cancel()
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    async def _read(self) -> None:
        try:
            while line := await self._reader.readline():
                try:
                    message = json.loads(line)
                except (ValueError, RecursionError):
                    continue  # not a line of this protocol: skipped, so a stray line fails no call
                if not isinstance(message, dict):
                    continue
                if "event" in message:
                    await self.events.put((message["event"], message.get("data")))
                    continue
                request_id = message.get("id")
                if not isinstance(request_id, int) or ("error" not in message and "result" not in message):
                    continue
                future = self._pending.pop(request_id, None)
                if future is None or future.done():
                    continue
                if "error" in message:
                    error = message["error"]
                    future.set_exception(RpcError.from_reply(error if isinstance(error, dict)
                                                             else {"message": str(error)}))
                else:
                    future.set_result(message.get("result"))
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))


def call(path: Path, method: str, timeout: float = 30.0, **params: Any) -> Any:
    """One synchronous request, for command-line tools."""

    async def once() -> Any:
        client = await Client.connect(path)
        try:
            return await client.call(method, timeout=timeout, **params)
        finally:
            await client.close()

    return asyncio.run(once())
