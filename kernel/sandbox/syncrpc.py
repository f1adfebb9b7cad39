"""A blocking llmos.ipc client for host functions: QuickJS calls them synchronously, so the app host
answers storage/clipboard/notify/bus calls with one request-response on its own kernel socket."""

from __future__ import annotations

import itertools
import json
import socket
from pathlib import Path
from typing import Any

from llmos.ipc import MAX_LINE, RpcError


class SyncClient:
    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        self._sock.connect(str(path))
        self._file = self._sock.makefile("rwb")
        self._ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> Any:
        request_id = next(self._ids)
        self._file.write(json.dumps({"id": request_id, "method": method, "params": params}).encode() + b"\n")
        self._file.flush()
        while True:
            line = self._file.readline(MAX_LINE)
            if not line:
                raise ConnectionError("the kernel closed the connection")
            message = json.loads(line)
            if message.get("id") != request_id:
                continue  # pushed events belong to the async connection; ignore strays
            if "error" in message:
                raise RpcError.from_reply(message["error"])
            return message.get("result")

    def close(self) -> None:
        self._file.close()
        self._sock.close()
