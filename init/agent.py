"""The guest end of the host's control channel: runs commands for tests and CI over a virtio-serial port.

QEMU exposes a virtserialport named org.llmos.agent; the host's harness (llmos.host.vm) writes one JSON
request per line and reads one JSON answer per line. PID 1 starts this service only when the kernel command
line carries `llmos.agent=1`, which only the test harness sets: a normal boot has no such back door.

Request: {"id": 1, "argv": ["llmos", "status"], "timeout": 30, "input": ""}
Answer:  {"id": 1, "rc": 0, "stdout": "...", "stderr": "..."}
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import sys
from pathlib import Path
from typing import Any, TypedDict

PORT_NAME = "org.llmos.agent"
OUTPUT_LIMIT = 1 << 20


class CommandResult(TypedDict):
    """The answer to one command: its exit code and output."""

    id: object  # the request's id, echoed
    rc: int
    stdout: str
    stderr: str


def find_port() -> Path | None:
    """The port's /dev node, found through sysfs so it does not depend on udev's symlinks."""
    for name_file in glob.glob("/sys/class/virtio-ports/*/name"):
        if Path(name_file).read_text().strip() == PORT_NAME:
            return Path("/dev") / Path(name_file).parent.name
    return None


async def run(request: dict[str, Any]) -> CommandResult:
    """`request` is a parsed JSON line: its fields are checked or converted here."""
    argv = request.get("argv")
    request_id = request.get("id")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        return CommandResult(id=request_id, rc=127, stdout="",
                             stderr="agent: argv must be a non-empty list of strings")
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)
    except OSError as error:
        return CommandResult(id=request_id, rc=127, stdout="", stderr=f"agent: {error}")
    try:
        stdout, stderr = await asyncio.wait_for(
            process.communicate(str(request.get("input", "")).encode()), float(request.get("timeout", 60)))
    except TimeoutError:
        os.killpg(process.pid, 9)
        await process.wait()
        return CommandResult(id=request_id, rc=124, stdout="", stderr="agent: timed out")
    rc = await process.wait()  # communicate() waited: this is its exit code
    return CommandResult(id=request_id, rc=rc, stdout=stdout[:OUTPUT_LIMIT].decode(errors="replace"),
                         stderr=stderr[:OUTPUT_LIMIT].decode(errors="replace"))


async def serve(port: Path) -> None:
    fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=4 << 20)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                os.fdopen(fd, "rb", 0))
    # The port's fd is non-blocking now; a write transport with drain() never loses part of an answer.
    write_transport, write_protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(os.dup(fd), "wb", 0))
    out = asyncio.StreamWriter(write_transport, write_protocol, None, loop)
    print(f"agent: serving on {port}", flush=True)
    pending: set[asyncio.Task[None]] = set()

    async def handle(line: bytes) -> None:
        try:
            request = json.loads(line)
        except ValueError as error:
            answer = CommandResult(id=None, rc=2, stdout="", stderr=f"agent: bad JSON: {error}")
        else:
            answer = await run(request)
        out.write(json.dumps(answer).encode() + b"\n")
        await out.drain()

    try:
        while line := await reader.readline():
            if line.strip():
                task = asyncio.create_task(handle(line))
                pending.add(task)
                task.add_done_callback(pending.discard)
    finally:
        transport.close()
        write_transport.close()


async def serve_forever(port: Path) -> None:
    """The port reads end-of-file while no host is connected; wait for the next connection."""
    while True:
        await serve(port)
        await asyncio.sleep(0.5)


def main() -> int:
    port = find_port()
    if port is None:
        print(f"agent: no virtio-serial port named {PORT_NAME}; nothing to serve", flush=True)
        return 125  # not a failure worth restarting: the VM was started without the channel
    asyncio.run(serve_forever(port))
    return 1


if __name__ == "__main__":
    sys.exit(main())
