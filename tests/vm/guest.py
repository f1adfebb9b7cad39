"""Small helpers to look inside the booted guest through the agent."""

from __future__ import annotations

import json
import time
from typing import Any

from waiting import wait_for as wait_until

from llmos.host.vm import VirtualMachine, VMError


def ipc(machine: VirtualMachine, service: str, method: str, *, call_timeout: float = 30.0,
        **params: Any) -> Any:
    """Call a service's JSON-lines socket inside the guest. `call_timeout`: how long the answer may take
    (llmos.ipc.call's 30 s by default; longer for calls that do slow work under TCG)."""
    code = ("import json, sys; from llmos import ipc, paths; params = json.loads(sys.argv[1]); "
            f"print(json.dumps(ipc.call(paths.socket_path({service!r}), {method!r}, "
            f"timeout={call_timeout!r}, **params)))")
    result = machine.run(["python3", "-c", code, json.dumps(params)], timeout=max(60.0, call_timeout + 30))
    return json.loads(result.stdout)


def try_ipc(machine: VirtualMachine, service: str, method: str, **params: Any) -> Any:
    """Like ipc(), but None while the service is (re)starting and its socket does not answer yet."""
    try:
        return ipc(machine, service, method, **params)
    except VMError:
        return None


def services(machine: VirtualMachine) -> dict[str, dict]:
    listed = ipc(machine, "init", "status")
    if isinstance(listed, dict) and "services" in listed:
        listed = listed["services"]
    return {service["name"]: service for service in listed}


LOG_SERVICES = ("kernel", "compositor", "init")  # app hosts write to the kernel's log (their stderr)


def service_logs(machine: VirtualMachine, timeout: float, lines: int = 60, limit: int = 6000) -> str:
    """The guest's recent service logs, each cut to its last `limit` characters, for a failed test's report;
    the serial console's tail when the agent cannot answer (a dead or hung guest)."""
    if not machine.responsive(timeout):
        return "the guest agent does not answer; the serial console instead:" + machine.tail(lines)
    parts = []
    for service in LOG_SERVICES:
        try:
            result = machine.run(["llmos", "logs", service, "-n", str(lines)], timeout=timeout, check=False)
            text = (result.stdout + result.stderr).strip()
        except VMError as error:
            text = f"(no logs: {error})"
        parts.append(f"--- llmos logs {service} (last {lines} lines) ---\n{text[-limit:]}")
    return "\n".join(parts)


FLOW = r"""
import asyncio, json, sys, time
from llmos import ipc, paths

async def main(prompt, limit):
    client = await ipc.Client.connect(paths.socket_path("kernel"))
    started = time.monotonic()
    marks, saved = {}, {}
    flow = (await client.call("flow.start", prompt=prompt, use_cache=False))["flow"]
    while True:
        name, data = await asyncio.wait_for(client.events.get(), limit)
        if name != "flow" or data.get("flow") != flow:
            continue
        kind = data["event"]
        marks.setdefault(kind, round(time.monotonic() - started, 2))
        if kind == "saved":
            saved = data
        if kind == "needs-approval":
            await client.call("flow.approve", flow=flow, granted=[a["scope"] for a in data["asks"]])
        if kind in ("launched", "failed", "cancelled"):
            print(json.dumps({"outcome": kind, "marks": marks, "saved": saved, "detail": data}))
            return

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""


def generate_app(machine: VirtualMachine, prompt: str, timeout: float) -> dict[str, Any]:
    """A new app for `prompt` through the kernel's flow (no cached answer), every capability it asks for
    approved: {"outcome": launched|failed|cancelled, "marks": {event: seconds after the prompt},
    "saved": the saved event, "detail": the last event}."""
    result = machine.run(["python3", "-c", FLOW, prompt, str(timeout)], timeout=timeout + 30)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def generate_launched(machine: VirtualMachine, prompt: str, timeout: float, by: str) -> dict[str, Any]:
    """generate_app, which must end with the app launched; prints how long it took and where."""
    started = time.monotonic()
    result = generate_app(machine, prompt, timeout)
    assert result["outcome"] == "launched", result
    print(f"prompt -> running app {by}: {time.monotonic() - started:.1f} s "
          f"(events: {json.dumps(result['marks'])})", flush=True)
    return result


AUDIT = ("import json; from llmos.kernel.gateway.ledger import Ledger; "
         "print(json.dumps(Ledger().audit_rows(5), default=str))")


def audit_rows(machine: VirtualMachine) -> list[dict[str, Any]]:
    """The gateway's five latest audit rows in the guest, newest first."""
    return list(json.loads(machine.run(["python3", "-c", AUDIT]).stdout))


def launched_window(machine: VirtualMachine, launched: dict[str, Any], timeout: float) -> dict[str, Any]:
    """The launched app's window once it is mapped, at a usable size."""
    def mapped() -> dict[str, Any] | None:
        return next((w for w in ipc(machine, "compositor", "windows") if w.get("title") == launched["title"]),
                    None)
    window: dict[str, Any] = wait_until(mapped, timeout, "the generated app's window")
    assert window["width"] > 100 and window["height"] > 100, window
    return window


SAVE_APP = ("import json, sys; from llmos.kernel.registry import Registry; registry = Registry.open(); "
            "print(registry.add(sys.argv[1], sys.stdin.read(), 'hand-written', json.loads(sys.argv[2]))"
            ".codeHash); registry.close()")


def save_app(machine: VirtualMachine, prompt: str, source: str, scopes: list[str],
             timeout: float = 60.0) -> str:
    """Save hand-written app source in the guest's registry, signed by the guest's own key (as
    `llmos app fork` or a pull would save one); returns its code hash, for the kernel's apps.run."""
    result = machine.run(["python3", "-c", SAVE_APP, prompt, json.dumps(scopes)], timeout=timeout,
                         input=source)
    return result.stdout.strip().splitlines()[-1]


APP_TREE = r"""
import glob, json, sys
from llmos import ipc, paths
for sock in glob.glob(str(paths.run_dir() / "apps" / "app-*.sock")):
    try:
        if ipc.call(sock, "status", timeout=10)["pid"] == int(sys.argv[1]):
            print(json.dumps(ipc.call(sock, "tree", timeout=10)))
            break
    except (OSError, ipc.RpcError, TimeoutError):
        continue
"""


def app_tree(machine: VirtualMachine, pid: int, timeout: float = 60.0) -> dict[str, Any] | None:
    """A running app's rendered tree, {"tree", "generation", "state"}, read from its app host's control
    socket (the one whose host has `pid`, as apps.run and apps.running give it); None if none answers."""
    result = machine.run(["python3", "-c", APP_TREE, str(pid)], timeout=timeout)
    lines = result.stdout.strip().splitlines()
    return dict(json.loads(lines[-1])) if lines else None
