"""A blocking llmos.ipc client for host functions: QuickJS calls them synchronously, so the app host
answers storage/clipboard/notify/bus calls with one request-response on its own kernel socket.

The kernel usually answers within a tenth of a millisecond. Blocking in `recv` for that long puts the
app host to sleep, and the answer then has to wake it, in a VM on the other vCPU: under a shared
hypervisor that wake-up was about a third of a checked call (docs/PERFORMANCE.md). So the client
first polls the socket for up to `SPIN_S`, and blocks only after that. It spins only while the
kernel's answers come that fast: after a slower answer the next call blocks at once, so a busy kernel
or a slow call costs no CPU in waiting."""

from __future__ import annotations

import itertools
import json
import select
import socket
import time
from pathlib import Path
from typing import Any

from llmos.ipc import MAX_LINE, RpcError

SPIN_S = 0.0003  # how long to poll for an answer before sleeping in recv


class SyncClient:
    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        self._sock.connect(str(path))
        self._poller = select.poll()
        self._poller.register(self._sock, select.POLLIN)
        self._buffer = bytearray()
        self._ids = itertools.count(1)
        self.spinning = True  # whether the next call polls before it blocks: the last answer was quick

    def call(self, method: str, **params: Any) -> Any:
        request_id = next(self._ids)
        started = time.perf_counter()
        request = {"id": request_id, "method": method, "params": params}
        self._sock.sendall(json.dumps(request).encode() + b"\n")
        while True:
            message = json.loads(self._line(started + SPIN_S))
            if message.get("id") != request_id:
                continue  # pushed events belong to the async connection; ignore strays
            self.spinning = time.perf_counter() - started <= SPIN_S
            if "error" in message:
                raise RpcError.from_reply(message["error"])
            return message.get("result")

    def _line(self, spin_until: float) -> bytes:
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > MAX_LINE:
                raise ConnectionError(f"the kernel sent a line over {MAX_LINE} bytes")
            if self.spinning:
                while not self._poller.poll(0) and time.perf_counter() < spin_until:
                    pass
            chunk = self._sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("the kernel closed the connection")
            self._buffer += chunk
        line = bytes(self._buffer[:end])
        del self._buffer[:end + 1]
        return line

    def close(self) -> None:
        self._sock.close()
