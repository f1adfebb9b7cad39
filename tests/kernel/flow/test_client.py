"""The terminal's side of a flow run in the kernel, against a stand-in kernel on a real socket: the
questions reach the terminal's Decisions as real Offer and Ask values, the answers go back over
the socket, and `--json` prints the events exactly as they arrived, without the flow id."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from llmos import ipc
from llmos.kernel.flow import Ask, Offer
from llmos.kernel.flow.client import Terminal, follow, kernel_events

HASH = "sha256:" + "c0" * 32
OFFERED = {"event": "offered-cached", "hash": HASH, "prompt": "a counter", "score": 0.9,
           "model": "llmos-starter", "title": "Counter"}
ASKED = {"event": "needs-approval",
         "asks": [{"scope": "ui:window", "words": "Show a window", "required": True},
                  {"scope": "notify", "words": "Notify", "required": False}]}
LAUNCHED = {"event": "launched", "hash": HASH, "granted": ["ui:window"], "app_id": "app-c0",
            "title": "Counter", "pid": 99}


class StandInKernel:
    """Pushes one cached flow's events, each question only after the previous answer arrived."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, Any]] = []
        self.server = ipc.Server(ipc.handlers(self))

    async def push(self, connection: ipc.Connection, event: dict[str, Any]) -> None:
        await connection.push("flow", {"flow": "f1", **event})

    @ipc.rpc("flow.start")
    async def rpc_flow_start(self, connection: ipc.Connection, params: dict[str, Any]) -> dict[str, str]:
        await connection.push("flow", {"flow": "other", "event": "failed", "reason": "not ours"})
        await self.push(connection, {"event": "looked-up", "candidates": []})
        await self.push(connection, OFFERED)
        return {"flow": "f1"}

    @ipc.rpc("flow.answer")
    async def rpc_flow_answer(self, connection: ipc.Connection, params: dict[str, Any]) -> bool:
        self.answers.append(("answer", params["accept_cached"]))
        await self.push(connection, ASKED)
        return True

    @ipc.rpc("flow.approve")
    async def rpc_flow_approve(self, connection: ipc.Connection, params: dict[str, Any]) -> bool:
        self.answers.append(("approve", params["granted"]))
        await self.push(connection, {"event": "approved", "granted": params["granted"]})
        await self.push(connection, LAUNCHED)
        await self.push(connection, {"event": "finished", "ok": True, "state": "done"})
        return True


@dataclass
class Recorder:
    offers: list[Offer] = field(default_factory=list)
    asks: list[list[Ask]] = field(default_factory=list)

    async def accept_cached(self, offer: Offer) -> bool:
        self.offers.append(offer)
        return True

    async def approve(self, asks: list[Ask]) -> set[str]:
        self.asks.append(asks)
        return {a.scope for a in asks if a.required}


def test_a_kernel_flow_asks_the_terminal_with_real_types(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    kernel, decisions = StandInKernel(), Recorder()

    async def scenario() -> int:
        await kernel.server.start(tmp_path / "kernel.sock")
        client = await ipc.Client.connect(tmp_path / "kernel.sock")
        try:
            flow = (await client.call("flow.start", prompt="a counter"))["flow"]
            return await follow(kernel_events(client, flow, decisions), Terminal(as_json=True, bar=False))
        finally:
            await client.close()
            await kernel.server.close()

    assert asyncio.run(scenario()) == 0
    assert decisions.offers == [Offer(HASH, "a counter", 0.9, "llmos-starter", "Counter")]
    assert decisions.asks == [[Ask("ui:window", "Show a window", True), Ask("notify", "Notify", False)]]
    assert kernel.answers == [("answer", True), ("approve", ["ui:window"])]
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert printed == [{"event": "looked-up", "candidates": []}, OFFERED, ASKED,
                       {"event": "approved", "granted": ["ui:window"]}, LAUNCHED]
