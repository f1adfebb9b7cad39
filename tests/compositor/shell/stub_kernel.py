"""STAND-IN for the kernel service, speaking the shell-facing socket API (/tmp/kernel-api.md,
docs/kernel-api.md) on paths.socket_path("kernel"). It exists because the real kernel service
(kernel/service.py, `python -m llmos.kernel`) is being written in parallel; the tests prefer the
real one when it is importable (see conftest.py).

Flows are scripted by words in the prompt so tests can reach every dialog without a model:
"slow" generates until cancelled, "fail" fails analysis, "offer" first offers a cached app,
"sluggish" holds the approved app's launch until test.release (a slow machine's first app start).
Launching starts a real Wayland client window (app_window.py) titled after the app.
Two apps are "pulled from other registries" (PULLED): one untrusted, refused by apps.run and flow.run
without confirm_untrusted, one trusted through an audit; both were never approved (flow.run asks).
Extra test-only methods: test.calls (what the shell asked), test.notify, test.exit (an app ends),
test.release (let a held launch go on).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
from pathlib import Path
from typing import Any

from llmos import config, ipc, paths

HERE = Path(__file__).parent
APPS = [
    ("a1" * 32, "Pomodoro Timer", "a pomodoro timer with work and break phases"),
    ("b2" * 32, "Todo List", "a todo list that remembers my tasks"),
    ("c3" * 32, "Notes", "a notes app that keeps my notes"),
    ("d4" * 32, "Counter", "a counter with plus and minus buttons"),
    ("e5" * 32, "Unit Converter", "a unit converter for lengths and weights"),
    ("f6" * 32, "Dice Roller", "a dice roller for two dice"),
    ("a7" * 32, "Stopwatch", "a stopwatch with laps"),
    ("b8" * 32, "Checklist", "a packing checklist"),
    ("c9" * 32, "Timer", "a kitchen timer"),
    ("d0" * 32, "Tip Calculator", "a tip calculator for a bill"),
]
ASKS = [
    {"scope": "ui:window", "words": "Show a window on your screen", "required": True},
    {"scope": "storage:local", "words": "Keep its own data on this computer", "required": False},
    {"scope": "notify", "words": "Show you notifications", "required": False},
]




def signer(key: str, name: str | None = None) -> dict[str, Any]:
    """A key as apps.provenance shows it: a named key is one the user trusts."""
    return {"key": key * 16, "name": name, "trusted": name is not None}


THIS_MACHINE = signer("5e1f", "this machine")
# hash -> (title, prompt, origin, author, auditors): Weather Station's author and auditor are keys the
# user does not know, so it is untrusted; Sudoku's author is unknown too, but carol (trusted) audited it.
PULLED = {
    "5a" * 32: ("Weather Station", "a weather station with rain forecasts", "alice", signer("a1ce"),
                [signer("3a11")]),
    "6b" * 32: ("Sudoku", "a sudoku puzzle board", "bob", signer("b0b0"), [signer("ca70", "carol")]),
}


def trusted(ref: str) -> bool:
    if ref not in PULLED:
        return True
    _, _, _, author, auditors = PULLED[ref]
    return author["trusted"] or any(a["trusted"] for a in auditors)


def provenance(ref: str) -> dict[str, Any]:
    _, _, origin, author, auditors = PULLED.get(ref) or ("", "", "local", THIS_MACHINE, [THIS_MACHINE])
    return {"codeHash": ref, "origin": origin, "author": author, "trusted": trusted(ref),
            "audits": [{"signer": a, "audited": True, "note": "", "at": "2026-11-20T10:00:00Z"}
                       for a in auditors],
            "ratings": [], "rating": None}


class Stub:
    def __init__(self) -> None:
        self.server = ipc.Server({name[4:].replace("_", "."): getattr(self, name) for name in dir(self)
                                  if name.startswith("rpc_")})
        self.calls: list[dict[str, Any]] = []
        self.flows: dict[str, asyncio.Task[Any]] = {}
        self.answers: dict[str, asyncio.Future[Any]] = {}
        self.running: dict[str, dict[str, Any]] = {}
        self.windows: dict[str, asyncio.subprocess.Process] = {}
        self.ids = itertools.count(1)
        self.held: asyncio.Future[None] | None = None  # a "sluggish" flow's launch, until test.release

    def _log(self, method: str, params: dict[str, Any]) -> None:
        self.calls.append({"method": method, **params})

    # -- apps --------------------------------------------------------------------------------------------
    async def rpc_apps_list(self, conn: ipc.Connection, params: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"hash": h, "title": t, "prompt": p, "capabilities": ["ui:window"], "rating": 0,
                 "model": "llmos-starter"} for h, t, p in APPS]

    async def rpc_apps_search(self, conn: ipc.Connection, params: dict[str, Any]) -> list[dict[str, Any]]:
        self._log("apps.search", params)
        words = [w for w in str(params.get("text", "")).lower().split() if len(w) > 1]
        scored = []
        pulled = [(h, t, p, origin) for h, (t, p, origin, _, _) in PULLED.items()]
        for h, t, p, origin in [(h, t, p, "local") for h, t, p in APPS] + pulled:
            score = sum(1 for w in words if w in f"{t} {p}".lower())
            if score:
                scored.append((score, {"hash": h, "title": t, "prompt": p, "score": score, "origin": origin,
                                       "trusted": trusted(h)}))
        scored.sort(key=lambda item: -item[0])
        return [item for _, item in scored][: int(params.get("limit", 8))]

    async def _launch(self, ref: str, title: str) -> str:
        app_id = f"app{next(self.ids)}"
        window = str(HERE / "app_window.py")
        proc = await asyncio.create_subprocess_exec(sys.executable, window, app_id, title)
        self.windows[app_id] = proc
        self.running[app_id] = {"app_id": app_id, "hash": ref, "title": title, "pid": proc.pid,
                                "state": "running"}
        await self.server.broadcast("app", {"app_id": app_id, "hash": ref, "state": "launched",
                                            "title": title})
        return app_id

    async def rpc_apps_run(self, conn: ipc.Connection, params: dict[str, Any]) -> dict[str, Any]:
        self._log("apps.run", params)
        ref = str(params.get("ref", ""))
        if ref in PULLED:
            self._check_trust(ref, params)
            raise ipc.RpcError("needs-approval", f"{ref[:12]} has not been approved yet; start flow.run")
        match = [a for a in APPS if a[0].startswith(ref)] if ref else []
        if len(match) != 1:
            raise ipc.RpcError("not-found", f"no single app matches {ref!r}")
        return {"app_id": await self._launch(match[0][0], match[0][1])}

    def _check_trust(self, ref: str, params: dict[str, Any]) -> None:
        if not trusted(ref) and params.get("confirm_untrusted") is not True:
            raise ipc.RpcError("untrusted", f"{ref[:12]} is signed by a key you do not trust; confirm to run "
                               "it anyway (confirm_untrusted: true)")

    async def rpc_apps_provenance(self, conn: ipc.Connection, params: dict[str, Any]) -> dict[str, Any]:
        self._log("apps.provenance", params)
        return provenance(str(params.get("ref", "")))

    async def rpc_flow_run(self, conn: ipc.Connection, params: dict[str, Any]) -> dict[str, Any]:
        """Approve and run a pulled app (the only ones never approved here)."""
        self._log("flow.run", params)
        ref = str(params.get("ref", ""))
        if ref not in PULLED:
            raise ipc.RpcError("no-such-app", f"no pulled app {ref!r}")
        self._check_trust(ref, params)
        flow = f"f{next(self.ids)}"
        self.flows[flow] = asyncio.get_running_loop().create_task(self._run_saved(conn, flow, ref))
        return {"flow": flow}

    async def _run_saved(self, conn: ipc.Connection, flow: str, ref: str) -> None:
        async def push(kind: str, **data: Any) -> None:
            await conn.push("flow", {"flow": flow, "event": kind, **data})

        try:
            await asyncio.sleep(0)  # the flow.run answer goes out first
            await self._approve_and_launch(push, flow, ref, PULLED[ref][0])
        except asyncio.CancelledError:
            await push("cancelled")
        finally:
            self.flows.pop(flow, None)

    async def rpc_apps_running(self, conn: ipc.Connection, params: dict[str, Any]) -> list[dict[str, Any]]:
        return list(self.running.values())

    async def rpc_apps_stop(self, conn: ipc.Connection, params: dict[str, Any]) -> bool:
        await self._exit(str(params.get("app_id")), "stopped")
        return True

    async def _exit(self, app_id: str, state: str) -> None:
        proc = self.windows.pop(app_id, None)
        app = self.running.pop(app_id, None)
        if proc is not None and proc.returncode is None:
            proc.terminate()
            await proc.wait()
        if app is not None:
            await self.server.broadcast("app", {"app_id": app_id, "hash": app["hash"], "state": state})

    # -- flows -------------------------------------------------------------------------------------------
    async def rpc_flow_start(self, conn: ipc.Connection, params: dict[str, Any]) -> dict[str, Any]:
        self._log("flow.start", params)
        flow = f"f{next(self.ids)}"
        task = asyncio.get_running_loop().create_task(self._flow(conn, flow, str(params["prompt"])))
        self.flows[flow] = task
        return {"flow": flow}

    async def _ask(self, flow: str) -> Any:
        future = self.answers[flow] = asyncio.get_running_loop().create_future()
        try:
            return await future
        finally:
            self.answers.pop(flow, None)

    async def _flow(self, conn: ipc.Connection, flow: str, prompt: str) -> None:
        async def push(kind: str, **data: Any) -> None:
            await conn.push("flow", {"flow": flow, "event": kind, **data})

        try:
            await asyncio.sleep(0)  # the flow.start answer goes out first
            await push("looked-up", candidates=[])
            if "offer" in prompt:
                await push("offered-cached", hash=APPS[0][0], prompt=APPS[0][2], title=APPS[0][1],
                           score=0.8)
                if await self._ask(flow):
                    await self._approve_and_launch(push, flow, APPS[0][0], APPS[0][1])
                    return
            steps = 10_000 if "slow" in prompt else 4
            for step in range(1, steps + 1):
                fraction = step / 4 if steps == 4 else 1 - 1 / (1 + step / 20)
                await push("generating", attempt=1, phase="writing", fraction=fraction, tokens=step * 37)
                await asyncio.sleep(0.1 if "slow" in prompt else 0.01)  # the simulated generator's pace
                if "fail" in prompt and step == 2:
                    await push("failed", reason="the generated code still fails analysis after 4 tries: "
                                                "3:5 net.fetch is used but network was not declared")
                    return
            await push("analysed", attempt=1, ok=True, findings=[])
            title = prompt.strip().title()[:40]
            await self._approve_and_launch(push, flow, "e0" * 32, title, hold="sluggish" in prompt)
        except asyncio.CancelledError:
            await push("cancelled")
        finally:
            self.flows.pop(flow, None)

    async def _approve_and_launch(self, push: Any, flow: str, ref: str, title: str,
                                  hold: bool = False) -> None:
        await push("needs-approval", asks=ASKS, title=title)
        granted = await self._ask(flow)
        if "ui:window" not in granted:
            await push("failed", reason="not launched: the app needs ui:window (Show a window on your "
                                        "screen), which you did not allow")
            return
        await push("approved", granted=granted)
        await push("saved", hash=ref, model="stub")
        if hold:
            self.held = asyncio.get_running_loop().create_future()
            await self.held
        app_id = await self._launch(ref, title)
        await push("launched", app_id=app_id, hash=ref, title=title, granted=granted)

    async def rpc_flow_answer(self, conn: ipc.Connection, params: dict[str, Any]) -> bool:
        self._log("flow.answer", params)
        self._answer(params, bool(params.get("accept_cached")))
        return True

    async def rpc_flow_approve(self, conn: ipc.Connection, params: dict[str, Any]) -> bool:
        self._log("flow.approve", params)
        self._answer(params, list(params.get("granted") or []))
        return True

    def _answer(self, params: dict[str, Any], value: Any) -> None:
        future = self.answers.get(str(params.get("flow")))
        if future is None or future.done():
            raise ipc.RpcError("no-question", "that flow is not waiting for an answer")
        future.set_result(value)

    async def rpc_flow_cancel(self, conn: ipc.Connection, params: dict[str, Any]) -> bool:
        self._log("flow.cancel", params)
        task = self.flows.get(str(params.get("flow")))
        if task is None:
            raise ipc.RpcError("no-flow", "no such flow")
        task.cancel()
        return True

    # -- the rest ------------------------------------------------------------------------------------------
    async def rpc_subscribe(self, conn: ipc.Connection, params: dict[str, Any]) -> list[str]:
        conn.subscriptions.update(params.get("events") or ["*"])
        return sorted(conn.subscriptions)

    async def rpc_status(self, conn: ipc.Connection, params: dict[str, Any]) -> dict[str, Any]:
        return {"model_loaded": False, "model": "stub", "apps_running": len(self.running),
                "first_boot": os.environ.get("STUB_FIRST_BOOT") == "1"}

    async def rpc_settings_get(self, conn: ipc.Connection, params: dict[str, Any]) -> dict[str, Any]:
        values = config.load().values
        return {name: values.get(name, {}) for name in ("gateway", "kiosk", "input", "system")}

    async def rpc_settings_set(self, conn: ipc.Connection, params: dict[str, Any]) -> bool:
        self._log("settings.set", params)
        config.save_user_setting(str(params["section"]), str(params["key"]), params["value"])
        return True

    async def rpc_test_calls(self, conn: ipc.Connection, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.calls

    async def rpc_test_notify(self, conn: ipc.Connection, params: dict[str, Any]) -> bool:
        await self.server.broadcast("notify", {"app_id": "app0", "title": params.get("title", "Test"),
                                               "text": params["text"]})
        return True

    async def rpc_test_release(self, conn: ipc.Connection, params: dict[str, Any]) -> bool:
        if self.held is None or self.held.done():
            raise ipc.RpcError("not-held", "no launch is held")
        self.held.set_result(None)
        return True

    async def rpc_test_exit(self, conn: ipc.Connection, params: dict[str, Any]) -> bool:
        for app_id in list(self.running):
            await self._exit(app_id, str(params.get("state", "exited")))
        return True


async def main() -> None:
    stub = Stub()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stub.server.start(paths.socket_path("kernel"))
    print("stub kernel ready", flush=True)
    await stop.wait()
    for app_id in list(stub.running):
        await stub._exit(app_id, "stopped")
    await stub.server.close()


if __name__ == "__main__":
    asyncio.run(main())
