"""A capability-checked host call vs a bare quickjs-rs callback, and where the difference goes.

bare:    JS calls a registered Python function with a string argument; it returns a constant.
checked: JS calls storage.get through the SDK: host function -> kernel socket (JSON line) -> broker
         -> authority.check (expiry, revocation, scope; audit) -> per-app SQLite -> back, the host
         function answering with the value itself (kernel/sandbox/hostfn.py). The kernel
         side runs in a child process, as in the system (app host and kernel are two processes).
         Every call is audited (a fresh app per repeat, so the audit rate limit never applies, as for
         any app making fewer than 50 calls a second); measured with the audit's allow rows written
         at once (one SQLite commit per call, as before 2026-12-02) and batched (the kernel's way).
parts:   each piece of a checked call timed on its own; they are figures, not a proof that they add up
         (the rest is the broker's dispatch and waking the other process). Among them the {ok, value}
         object every host function answered with before 2026-12-03, on a bare callback, and a refused
         call on the guest's side (the CapabilityError, its message fetched with last_error).

    .venv/bin/python bench/runtime_hostcall.py [--calls 800] [--repeats 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).parent))
import quickjs_rs
from runtime_common import KernelProcess

from llmos.ipc import Connection, Handler
from llmos.kernel.caps import open_authority
from llmos.kernel.caps.audit import AuditLog
from llmos.kernel.caps.authority import utcnow
from llmos.kernel.sandbox import wasmcache
from llmos.kernel.sandbox.broker import Broker
from llmos.kernel.sandbox.guest import Guest
from llmos.kernel.sandbox.hostfn import HostFunctionError
from llmos.kernel.sandbox.storage import AppStorage
from llmos.kernel.sandbox.syncrpc import SyncClient
from llmos.kernel.sandbox.transpile import transpile

SCOPES = ["storage:local", "ui:window"]
CHUNKS = 8  # each repeat runs its interleaved figures in this many chunks, in turn
INTERLEAVED = ("bare", "answer", "text", "guest", "refused", "at_once", "batched", "flooded", "hop_guest")
APP = "import { ui, storage } from '@llm-os/sdk';\nexport default () => ui.Text('x');\n"


class Figure:
    """Seconds per call over several repeats: the best (least disturbed by other work on a shared
    machine) and the median."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    @property
    def best(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def us(self) -> str:
        return f"best {self.best * 1e6:6.1f} us, median {self.median * 1e6:6.1f} us"


def per_call(fn: Callable[[], Any], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n


def js_loop(context: Any, call: str, n: int) -> float:
    started = time.perf_counter()
    context.eval(f"for (let i = 0; i < {n}; i++) {{ {call}; }}")
    return (time.perf_counter() - started) / n


async def noop(_connection: Connection, _params: dict[str, Any]) -> None:
    return None


class CheckedGuest:
    """A guest whose storage.get goes to the kernel the way the app host's host function does
    (kernel/sandbox/host.py: one SyncClient call carrying the token, answering the value itself)."""

    def __init__(self, client: SyncClient | None, refuse: bool = False) -> None:
        self.token = ""
        self.client = client

        def storage_get(key: str) -> Any:
            if refuse:  # the guest side of a refusal: the kernel's reason reaches the app
                raise HostFunctionError("denied: storage:local was not granted")
            if self.client is None:  # the guest side alone: the same answer, no kernel
                return None
            return self.client.call("app.storage.get", token=self.token, key=key)

        self.guest = Guest(frozenset(SCOPES), {"storage_get": storage_get})
        self.guest.context._timeout = 600
        self.guest.load(transpile(APP).code, 0)
        # Reach the SDK's storage.get the way app code does, from inside the guest.
        self.guest.context.globals["__storage"] = self.guest.api.get("sdk").get("storage")

    def calls(self, n: int, call: str = "__storage.get('k')") -> float:
        return js_loop(self.guest.context, call, n)


def audit_row(log: AuditLog, app: str, n: int, batched: bool) -> float:
    """One allow row: written at once (no event loop runs) or batched (recorded on a running loop)."""
    def rows() -> None:
        for _ in range(n):
            log.record(app, "storage.get k", "allow", "storage:local")
        log.flush()

    async def on_loop() -> None:
        rows()
    started = time.perf_counter()
    if batched:
        asyncio.run(on_loop())
    else:
        rows()
    return (time.perf_counter() - started) / n


def bench_handlers(broker: Broker) -> dict[str, Handler]:
    """The bench's own methods on the kernel's socket: a no-op (the hop alone), and a switch that
    makes the audit commit every row at once, as it did before 2026-12-02."""
    async def at_once(_connection: Connection, params: dict[str, Any]) -> None:
        if params.get("on"):
            broker.authority.audit.FLUSH_AFTER_S = 0.0
        else:
            vars(broker.authority.audit).pop("FLUSH_AFTER_S", None)
    return {"bench.noop": noop, "bench.audit_at_once": at_once}


def broker_handler(handler: Handler, token: str, n: int) -> float:
    """The kernel's whole work on one app.storage.get (dispatch, check, batched audit, SQLite),
    called on a running loop as the server calls it, for a fresh app (every call audited)."""
    async def calls() -> float:
        params: dict[str, object] = {"token": token, "key": "k"}
        await handler(cast(Connection, None), params)  # first use: the full verification
        started = time.perf_counter()
        for _ in range(n):
            await handler(cast(Connection, None), params)
        return (time.perf_counter() - started) / n
    return asyncio.run(calls())


def main(calls: int, repeats: int) -> None:
    """Every repeat times every figure once; the guest-side ones in small chunks, in turn, so a
    slow patch of a shared machine shows up in all of them. Ratios are taken within a repeat."""
    kernel = KernelProcess(bench_handlers)  # forked before anything here starts a thread
    wasmcache.install(Path(tempfile.mkdtemp(prefix="llw")))
    runtime = quickjs_rs.Runtime()
    context = runtime.new_context(timeout=600)
    context.register("bare", lambda *args: 1)
    context.register("answer", lambda *args: {"ok": True, "value": None})  # the answer before 2026-12-03
    context.register("text", lambda *args: '"v"')  # what a bare JSON-text answer would cost
    alone, refused = CheckedGuest(None), CheckedGuest(None, refuse=True)
    client = SyncClient(kernel.socket)
    hop_token = [""]
    context.register("hop", lambda *args: client.call("bench.noop", token=hop_token[0], key="k") or 1)
    checked = CheckedGuest(client)
    local = Path(tempfile.mkdtemp(prefix="lla"))
    authority = open_authority(local / "state")  # the in-process parts, timed without the socket
    storage = AppStorage(local / "apps")
    broker = Broker(authority, storage)
    handler = broker.handlers()["app.storage.get"]
    audit = AuditLog(local / "audit.sqlite")
    names = [*INTERLEAVED, "hop", "json", "handler", "check", "sqlite", "audit_once", "audit_batched",
             "verify"]
    fig = {name: Figure() for name in names}
    ratios = {name: Figure() for name in ("at_once", "batched", "flooded")}

    def mint(app: str) -> str:
        token: str = client.call("caps.mint", app=app, scopes=SCOPES, ttl_s=3600)
        client.call("app.storage.get", token=token, key="k")  # first use: the full verification
        return token

    def audited(token: str, at_once: bool, n: int) -> float:
        checked.token = token
        client.call("bench.audit_at_once", on=at_once)
        try:
            return checked.calls(n)
        finally:
            client.call("bench.audit_at_once", on=False)

    flood_token = checked.token = hop_token[0] = mint("bench-flood")
    checked.calls(1200)  # past the audit burst: from here on this app's rows are only counted
    token = authority.mint("bench-local", SCOPES)
    storage.get("bench-local", "k")
    request = {"id": 1, "method": "app.storage.get", "params": {"token": token, "key": "k"}}

    def json_both_ways() -> None:
        json.loads(json.dumps(request).encode())
        json.loads(json.dumps({"id": 1, "result": None}, separators=(",", ":")).encode())

    chunk = max(1, calls // CHUNKS)
    for i in range(repeats):
        # A fresh app per repeat: its audit rate bucket is full, so every call writes a row.
        once, batch = mint(f"bench-once-{i}"), mint(f"bench-batch-{i}")
        interleaved: dict[str, float] = dict.fromkeys(INTERLEAVED, 0.0)
        for _ in range(CHUNKS):  # small chunks in turn: a burst of other work hits all of them alike
            interleaved["bare"] += js_loop(context, "bare('k')", chunk)
            interleaved["answer"] += js_loop(context, "answer('k')", chunk)
            interleaved["text"] += js_loop(context, "text('k')", chunk)
            interleaved["guest"] += alone.calls(chunk)
            interleaved["refused"] += refused.calls(chunk, "try { __storage.get('k'); } catch (e) { }")
            interleaved["at_once"] += audited(once, True, chunk)
            interleaved["batched"] += audited(batch, False, chunk)
            checked.token = flood_token
            interleaved["flooded"] += checked.calls(chunk)
            interleaved["hop_guest"] += js_loop(context, "hop('k')", chunk)
        for name, total in interleaved.items():
            fig[name].samples.append(total / CHUNKS)
        for name in ratios:
            ratios[name].samples.append(fig[name].samples[-1] / fig["bare"].samples[-1])
        fig["hop"].samples.append(per_call(
            lambda: client.call("bench.noop", token=flood_token, key="k"), calls * 2))
        fig["json"].samples.append(per_call(json_both_ways, calls * 5))
        fig["handler"].samples.append(broker_handler(handler, authority.mint(f"bench-h-{i}", SCOPES),
                                                     calls))
        fig["check"].samples.append(per_call(lambda: authority.check(
            token, "storage:local", "storage.get k", audit_allow=False), calls * 20))
        fig["sqlite"].samples.append(per_call(lambda: storage.get("bench-local", "k"), calls * 5))
        fig["audit_once"].samples.append(audit_row(audit, f"bench-once-{i}", calls, batched=False))
        fig["audit_batched"].samples.append(audit_row(audit, f"bench-batch-{i}", calls, batched=True))
        fig["verify"].samples.append(per_call(lambda: authority.verify(token, now=utcnow()), 50))
    client.close()
    kernel.stop()
    for log in (audit, authority.audit):
        log.close()
    storage.close()
    runtime.close()

    class Extra(Figure):
        """What one figure adds to the bare callback: best minus best, and the repeats' median."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.samples = [x - b for x, b in zip(fig[name].samples, fig["bare"].samples, strict=True)]
            self.difference = fig[name].best - fig["bare"].best

        def us(self) -> str:
            return f"best {self.difference * 1e6:6.1f} us, median {self.median * 1e6:6.1f} us"

    print(f"{repeats} repeats of {calls} calls; per call\n")
    print(f"bare quickjs-rs callback, string argument:  {fig['bare'].us()}")
    print("capability-checked host call (storage.get through the kernel, every call audited):")
    for name, label in (("at_once", "audit rows committed at once (before)"),
                        ("batched", "audit rows batched (now)"),
                        ("flooded", "an app over the audit rate limit")):
        print(f"  {label + ':':42} {fig[name].us()}; ratio to bare: best/best "
              f"{fig[name].best / fig['bare'].best:.2f}x, median of the repeats' {ratios[name].median:.2f}x")
    print("\nwhere a checked call's time goes (each part timed alone):")
    for label, figure in (("bare callback (the baseline)", fig["bare"]),
                          ("guest: SDK call() + the value's answer", Extra("guest")),
                          ("  ({ok, value} answer object, before, alone)", Extra("answer")),
                          ("  (a JSON-text value instead would add)", Extra("text")),
                          ("guest: a refused call (CapabilityError)", Extra("refused")),
                          ("socket hop, a no-op method, from the guest", Extra("hop_guest")),
                          ("  the same from a plain Python loop", fig["hop"]),
                          ("  of which JSON, both ends, both ways", fig["json"]),
                          ("the broker's app.storage.get, in-process", fig["handler"]),
                          ("  authority.check: expiry, revocation, scope", fig["check"]),
                          ("  audit: one allow row, batched", fig["audit_batched"]),
                          ("  (audit: one allow row committed at once)", fig["audit_once"]),
                          ("  SQLite storage.get", fig["sqlite"])):
        print(f"  {label + ':':46} {figure.us()}")
    parts = fig["guest"].best + Extra("hop_guest").difference + fig["handler"].best
    print(f"  {'sum of guest, hop from the guest and broker:':46} best {parts * 1e6:6.1f} us, against "
          f"{fig['batched'].best * 1e6:.1f} us measured")
    print(f"\nfull Biscuit verification (at launch, and after a revocation): {fig['verify'].us()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=800, help="calls per repeat (under the audit burst)")
    parser.add_argument("--repeats", type=int, default=7)
    arguments = parser.parse_args()
    if arguments.calls > 900:
        parser.error("--calls over 900 would run past an app's audit burst of 1000 rows")
    main(arguments.calls, arguments.repeats)
