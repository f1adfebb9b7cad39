"""One app's JavaScript in QuickJS-in-WASM, with its limits.

Limits: a QuickJS memory limit, a stack limit (QuickJS's own plus wasmtime's wasm stack, whichever
trips first), a wall-clock CPU deadline around every entry (load, render, event handler, timer
callback, promise jobs) and a node-count cap on the UI tree. A deadline, memory or stack overrun is
fatal: the guest refuses further calls and the host stops the app.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.resources import files
from typing import Any

import quickjs_rs
import wasmtime

from llmos.kernel.sandbox.builtins import builtin_functions, wall_clock_ms
from llmos.kernel.sandbox.callabi import limits_for_runtime
from llmos.kernel.sandbox.hostfn import Answers, HostFunction
from llmos.kernel.sandbox.limits import GuestLimits
from llmos.kernel.sandbox.realm import REALM_LOCKDOWN
from llmos.kernel.sandbox.treecheck import TreeError, TreeLimits, parse_answer

log = logging.getLogger("llmos.sandbox.guest")

class AppFault(Exception):
    """The app misbehaved. `fatal` faults (deadline, memory, stack, tree, load) stop the app;
    an exception thrown by an event handler or timer callback is reported and survived."""

    FATAL = frozenset({"deadline", "memory", "stack", "tree", "load", "render", "dead"})

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message

    @property
    def fatal(self) -> bool:
        return self.kind in self.FATAL


@dataclass(frozen=True)
class Frame:
    """What one entry produced: a new tree (None if unchanged) and ms until the next timer wake."""

    tree: dict[str, Any] | None
    next_ms: float | None


def runtime_source() -> str:
    return (files("llmos.sdk") / "js" / "runtime.js").read_text(encoding="utf-8")


class Guest:
    def __init__(self, scopes: frozenset[str], host_functions: dict[str, HostFunction],
                 limits: GuestLimits | None = None, wall_clock: Callable[[], float] = wall_clock_ms) -> None:
        self.limits = limits or GuestLimits()
        self.dead: AppFault | None = None
        self._deadline_at = 0.0
        self.runtime = quickjs_rs.Runtime(memory_limit=self.limits.memory_bytes,
                                          stack_limit=self.limits.stack_bytes)
        self.context = self.runtime.new_context(timeout=self.limits.load_deadline_s)
        # Clock, zones and randomness need no grant; a caller's own functions of those names win (tests).
        # Each answers with its value and fails by raising; call() then asks last_error (hostfn.py).
        host_functions = Answers().functions({**builtin_functions(wall_clock), **host_functions})
        names = sorted(host_functions)
        for name in names:
            self.context.register(f"__llmos_h_{name}", host_functions[name], is_async=False)
        js_limits = {"maxNodes": self.limits.max_nodes, "maxDepth": self.limits.max_depth,
                     **limits_for_runtime()}
        # Capture the host functions into the runtime's closure and delete the globals before any
        # app code exists, so nothing on globalThis leads back to the host. The realm loses its
        # string-to-code paths first (kernel/sandbox/realm.py).
        boot = (
            REALM_LOCKDOWN + "(function () { const h = {}; for (const n of " + json.dumps(names) + ") {"
            " h[n] = globalThis['__llmos_h_' + n]; delete globalThis['__llmos_h_' + n]; }"
            " return (" + runtime_source() + ")(h, " + json.dumps(sorted(scopes)) + ", "
            + json.dumps(js_limits) + "); })()"
        )
        self.api = self._guard(lambda: self.context.eval_handle(boot, filename="llmos-sdk.js"),
                               self.limits.load_deadline_s, "load")

    # -- entries -------------------------------------------------------------------------------
    def load(self, code: str, now_ms: float, filename: str = "app.js") -> Frame:
        """Evaluate the transpiled module (a function of the SDK), mount it and render."""
        def run() -> None:
            factory = self.context.eval_handle(code, filename=filename)
            self._rearm()  # eval_handle clears the deadline slot when it returns
            self.api.call_method("mount", factory, now_ms).dispose()
            factory.dispose()
        self._guard(run, self.limits.load_deadline_s, "load")
        return self.flush(now_ms, force=True)

    def event(self, handler: int, args: list[Any], now_ms: float) -> bool:
        found = self._guard(lambda: self._call("event", handler, args, now_ms), self.limits.deadline_s,
                            "handler")
        return bool(found)

    def tick(self, now_ms: float) -> None:
        self._guard(lambda: self._call("tick", now_ms), self.limits.deadline_s, "timer")

    def settle(self, pending_id: int, ok: bool, value: Any, now_ms: float) -> None:
        self._guard(lambda: self._call("settle", pending_id, ok, value, now_ms), self.limits.deadline_s,
                    "handler")

    def deliver(self, channel: str, message: str, sender: str, now_ms: float) -> None:
        self._guard(lambda: self._call("deliver", channel, message, sender, now_ms),
                    self.limits.deadline_s, "handler")

    def provided(self) -> list[str]:
        """The names of the functions the app provides (apps.provide while it loaded)."""
        text = self._guard(lambda: self._call("provided"), self.limits.deadline_s, "handler")
        entries = json.loads(text) if isinstance(text, str) else []
        return [str(entry["name"]) for entry in entries if isinstance(entry, dict) and "name" in entry]

    def invoke(self, call: str, function: str, args: str, caller: str, now_ms: float) -> None:
        """Another app calls one of this app's functions; the answer leaves through call_reply."""
        self._guard(lambda: self._call("invoke", call, function, args, caller, now_ms),
                    self.limits.deadline_s, "a call from another app")

    def answer(self, ref: int, ok: bool, code: str, value: str, now_ms: float) -> None:
        """The kernel's answer to one of this app's apps.call: settles its promise."""
        self._guard(lambda: self._call("answer", ref, ok, code, value, now_ms), self.limits.deadline_s,
                    "handler")

    def flush(self, now_ms: float, force: bool = False) -> Frame:
        """Render if state changed. A failing render is fatal: there is no UI left to show."""
        text = self._guard(lambda: self._call("flush", now_ms, force), self.limits.deadline_s, "render")
        try:  # the host's own bounded check (treecheck.py): the app can forge this text
            answer = parse_answer(text, TreeLimits(self.limits.max_nodes, self.limits.max_depth,
                                                   self.limits.max_tree_bytes))
        except TreeError as error:
            raise self._die(AppFault("tree", str(error))) from None
        return Frame(answer.tree, answer.next_ms)

    def close(self) -> None:
        self.runtime.close()

    def memory_usage(self) -> dict[str, int]:
        return self.runtime.memory_usage()

    # -- plumbing ------------------------------------------------------------------------------
    def _call(self, method: str, *args: Any) -> Any:
        with self.api.call_method(method, *args) as result:
            return result.to_python()

    def _rearm(self) -> None:
        self.runtime._deadline = self._deadline_at

    def _die(self, fault: AppFault) -> AppFault:
        if fault.fatal:
            self.dead = fault
        return fault

    def _guard(self, fn: Callable[[], Any], seconds: float, where: str) -> Any:
        """Run one entry (and the promise jobs it queued) under a wall-clock deadline."""
        if self.dead is not None:
            raise AppFault("dead", f"the app was stopped earlier ({self.dead})")
        # quickjs-rs reads this slot from its interrupt poll; eval() sets its own, Handle calls don't.
        self._deadline_at = time.monotonic() + seconds
        self._rearm()
        try:
            result = fn()
            self._rearm()
            while self.context._engine_ctx.run_pending_jobs() > 0:
                # quickjs-rs swallows a job's exception, the interrupt included: a job that ran
                # into the deadline looks like a finished one, so the clock decides
                if time.monotonic() >= self._deadline_at:
                    raise quickjs_rs.InterruptError("a promise job ran into the deadline")
                self._rearm()
            return result
        except quickjs_rs.InterruptError:
            raise self._die(AppFault("deadline", f"{where} ran longer than {seconds:.3g} s")) from None
        except quickjs_rs.MemoryLimitError:
            raise self._die(AppFault("memory", f"{where} exceeded the memory limit of "
                                               f"{self.limits.memory_bytes // 1024 // 1024} MiB")) from None
        except wasmtime.Trap as trap:
            kind = "stack" if "call stack exhausted" in str(trap) else "load"
            what = "stack limit (recursion too deep)" if kind == "stack" else f"a wasm trap: {trap}"
            raise self._die(AppFault(kind, f"{where} hit the {what}")) from None
        except quickjs_rs.JSError as error:
            if error.name == "RangeError" and "stack" in error.message.lower():
                raise self._die(AppFault("stack", f"{where}: {error.message}")) from None
            if error.name == "InternalError" and "out of memory" in error.message:
                raise self._die(AppFault("memory", f"{where}: out of memory")) from None
            if error.message.startswith("ui tree:"):
                raise self._die(AppFault("tree", error.message)) from None
            kind = where if where in ("load", "render") else "error"
            message = f"{error.name}: {error.message}"
            if error.stack:
                message += "\n" + error.stack.strip()
            raise self._die(AppFault(kind, message)) from None
        except quickjs_rs.QuickJSError as error:
            raise self._die(AppFault("load" if where == "load" else "error",
                                     f"{where}: {type(error).__name__}: {error}")) from None
        finally:
            self.runtime._deadline = None


def limits_dict(limits: GuestLimits) -> dict[str, Any]:
    return asdict(limits)


def warm() -> None:
    """Create and drop one guest (the SDK runtime only, no app code), for the zygote: its children
    then find wasmtime's and quickjs-rs's first-use work done, about 6 ms of each launch on a host.
    Each child still creates its own runtime, context and linear memory."""
    Guest(frozenset(), {}).close()
