"""One app's JavaScript in QuickJS-in-WASM, with its limits.

Limits: a QuickJS memory limit, a stack limit (QuickJS's own plus wasmtime's wasm stack, whichever
trips first), a wall-clock CPU deadline around every entry (load, render, event handler, timer
callback, promise jobs) and a node-count cap on the UI tree. A deadline, memory or stack overrun is
fatal: the guest refuses further calls and the host stops the app.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.resources import files
from typing import Any

import quickjs_rs
import wasmtime

from llmos.kernel.sandbox.builtins import builtin_functions, wall_clock_ms

log = logging.getLogger("llmos.sandbox.guest")

HostFunction = Callable[..., Any]


@dataclass(frozen=True)
class GuestLimits:
    memory_bytes: int = 32 * 1024 * 1024
    stack_bytes: int = 256 * 1024
    deadline_s: float = 0.5        # per callback
    load_deadline_s: float = 2.0   # top-level app code + first render
    max_nodes: int = 2000
    max_depth: int = 64
    max_tree_bytes: int = 1024 * 1024


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


def count_nodes(tree: Any, limit: int) -> int:
    """Host-side recount and shape check: the JS runtime's cap and checks are advisory (app code
    shares its realm and may replace JSON.stringify), so every node must be an object with a string
    type, object props and a list of children that are nodes, strings or numbers."""
    count, stack = 0, [(tree, "tree")]
    while stack:
        node, where = stack.pop()
        if not isinstance(node, dict):
            raise AppFault("tree", f"{where} is {type(node).__name__}, not a UI node object")
        count += 1
        if count > limit:
            raise AppFault("tree", f"UI tree has more than {limit} nodes")
        if not isinstance(node.get("type"), str):
            raise AppFault("tree", f"{where}.type is not a string")
        if not isinstance(node.get("props", {}), dict):
            raise AppFault("tree", f"{where}.props is not an object")
        children = node.get("children", [])
        if not isinstance(children, list):
            raise AppFault("tree", f"{where}.children is not a list")
        for index, child in enumerate(children):
            if isinstance(child, dict):
                stack.append((child, f"{where}.children[{index}]"))
            elif isinstance(child, bool) or not isinstance(child, str | int | float):
                raise AppFault("tree", f"{where}.children[{index}] is not a node, string or number")
    return count


def _frame(answer: Any, limit: int) -> Frame:
    """The runtime's flush answer, {"tree": node|null, "next": ms|null}, checked before use."""
    if not isinstance(answer, dict):
        raise AppFault("tree", f"the render answer is {type(answer).__name__}, not an object")
    tree, wake = answer.get("tree"), answer.get("next")
    if wake is not None and (isinstance(wake, bool) or not isinstance(wake, int | float)
                             or not math.isfinite(wake)):
        raise AppFault("tree", f"the render answer's next wake-up {wake!r} is not a number of ms")
    if tree is not None:
        count_nodes(tree, limit)
    return Frame(tree, wake)


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
        host_functions = {**builtin_functions(wall_clock), **host_functions}
        names = sorted(host_functions)
        for name in names:
            self.context.register(f"__llmos_h_{name}", host_functions[name], is_async=False)
        js_limits = {"maxNodes": self.limits.max_nodes, "maxDepth": self.limits.max_depth}
        # Capture the host functions into the runtime's closure and delete the globals before any
        # app code exists, so nothing on globalThis leads back to the host.
        boot = (
            "(function () { const h = {}; for (const n of " + json.dumps(names) + ") {"
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

    def flush(self, now_ms: float, force: bool = False) -> Frame:
        """Render if state changed. A failing render is fatal: there is no UI left to show."""
        text = self._guard(lambda: self._call("flush", now_ms, force), self.limits.deadline_s, "render")
        if not isinstance(text, str) or len(text) > self.limits.max_tree_bytes:
            raise self._die(AppFault("tree", f"UI tree JSON over {self.limits.max_tree_bytes} bytes"))
        try:
            try:
                answer = json.loads(text)
            except ValueError as error:
                raise AppFault("tree", f"the render answer is not JSON: {error}") from None
            return _frame(answer, self.limits.max_nodes)
        except AppFault as fault:
            raise self._die(fault) from None

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
