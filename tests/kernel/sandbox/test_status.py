"""The status channel (the host's stdout, read by the manager): messages are cut before they leave
the host, the manager's reader survives any input and keeps a bounded number of lines, and the host
never blocks on a pipe nobody reads."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from llmos.kernel.sandbox.manager import AppProcess

from .test_attacks import button

MAX_STATUS_BYTES = 8 * 1024  # what any one status line may take, as read back by the manager


class FakeProcess:
    def __init__(self, stdout: asyncio.StreamReader) -> None:
        self.stdout = stdout
        self.returncode = None
        self.pid = 0


async def read_all(*chunks: bytes) -> AppProcess:
    reader = asyncio.StreamReader()  # the subprocess pipe's default limit (64 KiB)
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    app = AppProcess(FakeProcess(reader), Path("/nonexistent"))  # type: ignore[arg-type]
    await asyncio.wait_for(app._read_status(), 10)
    return app


def test_the_status_reader_survives_any_input() -> None:
    stopped = {"status": "stopped", "app": "x", "kind": "deadline", "message": "the real cause"}
    app = asyncio.run(read_all(
        b"x" * 200_000 + b"\n",                                                   # a 200 KB line
        json.dumps({"status": "error", "message": "m" * 300_000}).encode() + b"\n",  # valid, too big
        b"\xff\xfe\x00\x80 binary\n", b"{not json\n", b"[1, 2]\n", b"\n", b"null\n",
        json.dumps(stopped).encode() + b"\n",
        b"trailing without a newline",
    ))
    assert app.stopped_status() == stopped
    assert all(len(json.dumps(status)) <= MAX_STATUS_BYTES for status in app.statuses)


def test_the_manager_keeps_a_bounded_number_of_status_lines() -> None:
    error = json.dumps({"status": "error", "app": "x", "kind": "error", "message": "e" * 4000}).encode()
    ready = json.dumps({"status": "ready", "app": "x", "pid": 1}).encode()
    app = asyncio.run(read_all(ready + b"\n", *[error + b"\n"] * 5000))
    assert len(app.statuses) <= 100
    assert app.ready["status"] == "ready"  # the line that matters is kept however many follow


HUGE_ERROR = """import { ui } from '@llm-os/sdk';
export default function App() {
  const big = () => { throw new Error('x'.repeat(200000)); };
  const spin = () => { for (;;) { /* runaway */ } };
  return ui.Window({ title: 'huge' }, [
    ui.Button({ onClick: big }, 'big'), ui.Button({ onClick: spin }, 'spin'),
  ]);
}
"""


def test_a_200_kb_error_is_cut_and_later_statuses_still_arrive(make_kernel):
    async def scenario():
        async with make_kernel() as kernel:
            app = await kernel.manager.launch(HUGE_ERROR, kernel.authority.mint("huge", ["ui:window"]))
            tree = (await app.tree())["tree"]
            for _ in range(3):
                answer = await app.event(button(tree, "big"))
                assert answer["state"] == "running"
            assert (await app.event(button(tree, "spin")))["state"] == "stopped"
            code, stopped = await app.wait()
            assert code == 1 and stopped is not None and stopped["kind"] == "deadline", stopped
            errors = [s for s in app.statuses if s.get("status") == "error"]
            assert len(errors) == 3
            assert all(len(json.dumps(s)) <= MAX_STATUS_BYTES for s in app.statuses)
            assert errors[0]["message"].startswith("Error: xxxx") and "cut" in errors[0]["message"]
    asyncio.run(asyncio.wait_for(scenario(), 60))


ERROR_FLOOD = """import { ui, timer } from '@llm-os/sdk';
export default function App() {
  const t = timer.useInterval(() => { throw new Error('y'.repeat(50000)); }, 20);
  return ui.Window({ title: 'flood' }, [ui.Button({ onClick: t.start }, 'go')]);
}
"""


def test_the_host_never_blocks_on_a_status_pipe_nobody_reads(make_kernel):
    async def scenario():
        async with make_kernel() as kernel:
            kernel.manager.watchdog_interval = 0  # this test is about the host, not the manager's backstop
            token = kernel.authority.mint("flood", ["ui:window", "timer"])
            app = await kernel.manager.launch(ERROR_FLOOD, token)
            app._tasks[0].cancel()  # the status reader: from now on nobody reads the host's stdout
            tree = (await app.tree())["tree"]
            await app.event(button(tree, "go"))
            await asyncio.sleep(1.5)  # ~75 errors of 50 KB: far more than a pipe holds
            status = await asyncio.wait_for(app.status(), 2.0)
            assert status["state"] == "running"
            assert await app.stop() == 0
    asyncio.run(asyncio.wait_for(scenario(), 60))
