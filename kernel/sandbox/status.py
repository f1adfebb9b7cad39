"""The status channel from an app host to the manager: one JSON object per line on the host's stdout
({"status": "ready" | "error" | "stopped", "app", "kind", "message", ...}).

Both ends bound it, because app code chooses what goes into an error message:
- the host cuts every message to MAX_MESSAGE characters and every line to MAX_LINE bytes before it
  leaves, and never blocks on the pipe: writes are non-blocking, with a bounded backlog in which
  'error' lines give way to the lines that matter ('ready', 'stopped');
- the manager reads lines of at most MAX_LINE bytes, skips longer ones whole, and skips bad JSON,
  binary and anything that is not a status object, so no input ends its reader.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import select
import stat
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from llmos.kernel.sandbox.treecheck import nests_deeper_than

log = logging.getLogger("llmos.sandbox.status")

MAX_MESSAGE = 2000            # characters of one message
MAX_LINE = 8 * 1024           # bytes of one status line, newline included
MAX_BACKLOG = 256 * 1024      # bytes the host holds while the pipe is full


def cut(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text`, or its start and how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… (cut: {len(text) - limit} more characters)"


def encode(fields: dict[str, Any]) -> bytes:
    """One status line of at most MAX_LINE bytes: strings are cut, harder if escaping made them grow."""
    for limit in (MAX_MESSAGE, 200):
        line = json.dumps({key: cut(value, limit) if isinstance(value, str) else value
                           for key, value in fields.items()}).encode() + b"\n"
        if len(line) <= MAX_LINE:
            return line
    keep = {key: cut(str(fields.get(key, "")), 200) for key in ("status", "app", "kind")}
    return json.dumps({**keep, "message": "the status line was too long to send"}).encode() + b"\n"


class StatusWriter:
    """The host's end. Non-blocking when stdout is a pipe (a manager that stops reading must not
    stop the app host: its watchdog would then blame a 'hang' instead of the real cause)."""

    def __init__(self, fd: int = 1) -> None:
        self.fd = fd
        self.dropped = 0
        self._backlog: deque[tuple[str, bytes]] = deque()
        self._size = 0
        self._waiting: asyncio.AbstractEventLoop | None = None
        try:
            self.pipe = stat.S_ISFIFO(os.fstat(fd).st_mode)
        except OSError:
            self.pipe = False
        if self.pipe:
            os.set_blocking(fd, False)  # only a pipe: a terminal's flags are shared with the shell

    def write(self, **fields: Any) -> None:
        line, status = encode(fields), str(fields.get("status"))
        if self._size + len(line) > MAX_BACKLOG and not self._make_room(len(line), status):
            self.dropped += 1
            return
        self._backlog.append((status, line))
        self._size += len(line)
        self.flush()

    def _make_room(self, needed: int, status: str) -> bool:
        """Drop queued 'error' lines (never the one being written out) until `needed` fits; an
        'error' line itself is dropped rather than anything else."""
        if status == "error":
            return False
        kept: deque[tuple[str, bytes]] = deque()
        for index, (queued, line) in enumerate(self._backlog):
            if index > 0 and queued == "error" and self._size + needed > MAX_BACKLOG:
                self._size -= len(line)
                self.dropped += 1
                continue
            kept.append((queued, line))
        self._backlog = kept
        return True  # the lines that matter are always queued; the backlog bound is for errors

    def flush(self) -> None:
        while self._backlog:
            status, line = self._backlog[0]
            try:
                written = os.write(self.fd, line)
            except BlockingIOError:
                self._wait_writable()
                return
            except OSError as error:  # the reader is gone for good: nothing will ever be read
                log.warning("status channel closed (%s); dropping %d lines", error, len(self._backlog))
                self._backlog.clear()
                self._size = 0
                return
            self._size -= written
            if written < len(line):
                self._backlog[0] = (status, line[written:])
            else:
                self._backlog.popleft()

    def _wait_writable(self) -> None:
        if self._waiting is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: drain() at exit writes what is left
        self._waiting = loop
        loop.add_writer(self.fd, self._writable)

    def _writable(self) -> None:
        if self._waiting is not None:
            self._waiting.remove_writer(self.fd)
            self._waiting = None
        self.flush()

    def drain(self, timeout: float) -> bool:
        """At exit: wait up to `timeout` s for the backlog to go out. True if it all went."""
        if self._waiting is not None:
            self._waiting.remove_writer(self.fd)
            self._waiting = None
        end = time.monotonic() + timeout
        while self._backlog and (left := end - time.monotonic()) > 0:
            select.select([], [self.fd], [], left)
            self.flush()
            if self._waiting is not None:  # flush() may have asked the loop again
                self._waiting.remove_writer(self.fd)
                self._waiting = None
        return not self._backlog


def parse_status(line: bytes) -> dict[str, Any] | None:
    """A status object from one line, or None for anything else (never raises)."""
    if len(line) > MAX_LINE:
        return None
    try:
        text = line.decode()
        if nests_deeper_than(text, 16):  # json.loads recurses; a status is two levels deep
            return None
        value = json.loads(text)
    except ValueError:  # bad UTF-8 or bad JSON
        return None
    if not isinstance(value, dict) or not isinstance(value.get("status"), str):
        return None
    return {key: cut(item) if isinstance(item, str) else item for key, item in value.items()}


async def read_statuses(stream: asyncio.StreamReader) -> AsyncIterator[dict[str, Any]]:
    """The manager's end: every status object on `stream` until EOF. A line longer than MAX_LINE is
    skipped whole (its end is found without keeping it), so no input can grow this reader."""
    partial = bytearray()
    skipping = False
    while chunk := await stream.read(64 * 1024):
        start = 0
        while (newline := chunk.find(b"\n", start)) >= 0:
            piece = chunk[start:newline]
            if not skipping and len(partial) + len(piece) < MAX_LINE:
                status = parse_status(bytes(partial) + piece)
                if status is not None:
                    yield status
            partial.clear()
            skipping = False
            start = newline + 1
        rest = chunk[start:]
        if skipping:
            continue
        if len(partial) + len(rest) >= MAX_LINE:
            skipping = True
            partial.clear()
        else:
            partial += rest
