"""The kernel without a compositor (host development, or before the compositor is up): apps run
headless; unanswered questions end a flow after [kernel] decision_timeout_s; a client that goes
away takes its flows with it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from llmos import ipc

from .harness import make_system, next_event, remove, wait_for

pytestmark = pytest.mark.timeout(60)


def test_headless_kernel_timeouts_and_closed_clients(wasm_cache: Path) -> None:
    system = make_system("[kernel]\ndecision_timeout_s = 1.0\n", wasm_cache=wasm_cache)
    try:
        system.start_kernel()
        assert system.call("status")["renderer"] == "null"

        async def unanswered() -> None:
            client = await ipc.Client.connect(system.kernel_socket)
            try:
                await client.call("flow.start", prompt="pomodoro timer")
                _, failed = await next_event(client, lambda n, d: d["event"] == "failed", timeout=10)
                assert "no answer to offered-cached within 1 s" in failed["reason"]
                _, finished = await next_event(client, lambda n, d: d["event"] == "finished")
                assert finished["ok"] is False
                await client.call("flow.start", prompt="a todo list")
                await next_event(client, lambda n, d: d["event"] == "offered-cached")
            finally:
                await client.close()

        asyncio.run(unanswered())
        wait_for(lambda: system.call("status")["flows"] == 0, what="the closed client's flow to be cancelled")
        assert "its connection closed; cancelling" in (system.root / "kernel.log").read_text()

        counter = system.call("apps.search", text="counter", limit=1)[0]["hash"]
        declared = next(a["capabilities"] for a in system.call("apps.list") if a["hash"] == counter)
        app = system.call("apps.run", ref=counter, granted=declared)
        assert [a["app_id"] for a in system.call("apps.running")] == [app["app_id"]]
        assert system.stop_kernel() == 0
        with pytest.raises(ProcessLookupError):
            os.kill(app["pid"], 0)
    finally:
        remove(system)
