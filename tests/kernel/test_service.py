"""The kernel service as PID 1 runs it: `python -m llmos.kernel` in a subprocess, with a real
headless compositor, real app host processes (Wayland clients, QuickJS-in-WASM, confined when
root) and the cached starter apps, so no model is loaded (generation is covered in tests/kernel/gateway)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from llmos import ipc
from llmos.kernel.starter import STARTERS

from .harness import System, next_event, wait_for

pytestmark = pytest.mark.timeout(120)


def flow_event(kind: str):
    return lambda name, data: name == "flow" and data["event"] == kind


async def run_flow(system: System, prompt: str, *, accept: bool = True,
                   grant: Any = "all") -> list[dict[str, Any]]:
    """Start a flow and answer its questions; returns every flow event up to 'finished'."""
    client = await ipc.Client.connect(system.kernel_socket)
    events: list[dict[str, Any]] = []
    try:
        flow = (await client.call("flow.start", prompt=prompt))["flow"]
        while True:
            _, data = await next_event(client, lambda name, data: name == "flow")
            assert data["flow"] == flow
            events.append(data)
            if data["event"] == "offered-cached":
                await client.call("flow.answer", flow=flow, accept_cached=accept)
            elif data["event"] == "needs-approval":
                scopes = [a["scope"] for a in data["asks"]] if grant == "all" else grant
                await client.call("flow.approve", flow=flow, granted=scopes)
            elif data["event"] == "finished":
                return events
    finally:
        await client.close()


def test_first_boot_seeds_the_starter_set(system: System) -> None:
    status = system.call("status")
    assert status["first_boot"] is True and status["model_loaded"] is False
    apps = system.call("apps.list")
    assert len(apps) == len(STARTERS) and status["apps"] == len(STARTERS)
    titles = {app["title"] for app in apps}
    assert {"Pomodoro Timer", "Todo List", "Counter"} <= titles
    assert all(app["model"] == "llmos-starter" and app["hash"].startswith("sha256:") for app in apps)
    found = system.call("apps.search", text="pomodoro timer", limit=3)
    assert found[0]["title"] == "Pomodoro Timer" and found[0]["score"] >= 0.6
    assert stat.S_IMODE(system.kernel_socket.stat().st_mode) == 0o600


def test_cached_app_flow_launches_a_visible_window(system: System) -> None:
    events = asyncio.run(run_flow(system, "pomodoro timer"))
    kinds = [e["event"] for e in events]
    assert kinds == ["looked-up", "offered-cached", "needs-approval", "approved", "launched", "finished"]
    offered, asks, launched = events[1], events[2]["asks"], events[4]
    assert offered["title"] == "Pomodoro Timer"
    assert {a["scope"] for a in asks} == {"ui:window", "storage:local", "timer", "notify"}
    assert all(a["words"] for a in asks)
    assert launched["title"] == "Pomodoro Timer" and launched["hash"] == offered["hash"]
    assert set(offered) == {"flow", "event", "hash", "prompt", "score", "model", "title"}
    assert set(events[2]) == {"flow", "event", "asks"}
    assert set(launched) == {"flow", "event", "hash", "granted", "app_id", "title", "pid"}
    running = system.call("apps.running")
    assert [(a["app_id"], a["pid"]) for a in running] == [(launched["app_id"], launched["pid"])]
    window = wait_for(lambda: next((w for w in system.windows() if w["pid"] == launched["pid"]), None),
                      what="the app's window")
    assert window["title"] == "Pomodoro Timer"
    assert wait_for(lambda: system.non_background_pixels(window) > 100, what="the app's pixels on screen")
    stopped = system.call("apps.stop", app_id=launched["app_id"])
    assert stopped["state"] == "stopped"
    wait_for(lambda: not any(w["pid"] == launched["pid"] for w in system.windows()), what="window to close")
    assert system.call("apps.running") == []


def test_app_crash_is_pushed_and_the_kernel_keeps_serving(system: System) -> None:
    async def scenario() -> None:
        watcher = await ipc.Client.connect(system.kernel_socket)
        try:
            assert "app" in await watcher.call("subscribe", events=["app", "notify"])
            counter = (await watcher.call("apps.search", text="counter", limit=1))[0]
            declared = next(a for a in await watcher.call("apps.list") if a["hash"] == counter["hash"])
            started = await watcher.call("apps.run", ref=counter["hash"], granted=declared["capabilities"])
            _, launched = await next_event(watcher, lambda n, d: n == "app" and d["state"] == "launched")
            assert launched["app_id"] == started["app_id"] and launched["title"] == "Counter"
            os.kill(started["pid"], signal.SIGKILL)
            _, crashed = await next_event(watcher, lambda n, d: n == "app" and d["state"] != "launched")
            assert crashed["state"] == "crashed" and crashed["app_id"] == started["app_id"]
            assert "signal 9" in crashed["reason"]
            _, note = await next_event(watcher, lambda n, d: n == "notify")
            assert note["app_id"] == started["app_id"] and "crashed" in note["text"]
            return started
        finally:
            await watcher.close()

    started = asyncio.run(scenario())
    # the dead host's token is on the persisted revocation list (no later use of a leaked copy)
    with contextlib.closing(sqlite3.connect(system.state / "caps" / "revoked.sqlite")) as db:
        reasons = [row[0] for row in db.execute("SELECT reason FROM revoked")]
    assert any(r.startswith(f"{started['app_id']} crashed: killed by signal 9") for r in reasons), reasons
    assert system.call("apps.running") == []
    assert system.call("status")["apps_running"] == 0
    assert system.kernel is not None and system.kernel.poll() is None


def test_denying_a_required_capability_launches_nothing(system: System) -> None:
    windows_before = system.windows()
    events = asyncio.run(run_flow(system, "pomodoro timer", grant=["ui:window", "timer"]))
    failed = next(e for e in events if e["event"] == "failed")
    assert "storage:local" in failed["reason"] and "did not allow" in failed["reason"]
    assert events[-1] == {"flow": events[0]["flow"], "event": "finished", "ok": False, "state": "failed"}
    assert not any(e["event"] in ("approved", "launched") for e in events)
    assert system.call("apps.running") == []
    assert system.windows() == windows_before


def test_settings_persist_in_the_state_dir(system: System) -> None:
    after = system.call("settings.set", section="input", key="layout", value="de")
    assert after["input"]["layout"] == "de"
    system.call("settings.set", section="gateway", key="anthropic_api_key", value="sk-test-0123456789")
    saved = system.state / "llmos.toml"
    values = tomllib.loads(saved.read_text())
    assert values["input"]["layout"] == "de"
    assert values["gateway"]["anthropic_api_key"] == "sk-test-0123456789"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600, "a secret makes the file root-only"
    shown = system.call("settings.set", section="gateway", key="adapter", value="shipped")
    assert shown["input"]["layout"] == "de" and shown["gateway"]["anthropic_api_key"] == "…6789"
    assert shown["gateway"]["adapter"] == "shipped" and system.call("settings.get") == shown
    with pytest.raises(ipc.RpcError) as refused:
        system.call("settings.set", section="services", key="kernel", value="x")
    assert refused.value.code == "bad-request" and "cannot be set" in refused.value.message
    with pytest.raises(ipc.RpcError) as wrong_type:
        system.call("settings.set", section="input", key="layout", value=3)
    assert "must be a str" in wrong_type.value.message


def raw_exchange(system: System, payload: bytes) -> list[dict[str, Any]]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(system.kernel_socket))
        sock.sendall(payload)
        data = b""
        while data.count(b"\n") < payload.count(b"\n"):
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {data!r}"
            data += chunk
    return [json.loads(line) for line in data.splitlines()]


def test_bad_requests_get_errors_and_the_service_survives(system: System) -> None:
    replies = raw_exchange(system, b'{not json\n[1, 2]\n{"id": 3, "method": "no.such"}\n'
                                   b'{"id": 4, "method": "flow.start", "params": {"prompt": 5}}\n'
                                   b'{"id": 5, "method": "flow.answer", "params": {"flow": "nope", '
                                   b'"accept_cached": true}}\n'
                                   b'{"id": 6, "method": "apps.run", "params": {"ref": "sha256:0000"}}\n'
                                   b'{"id": 7, "method": "apps.stop", "params": {"app_id": "app-x"}}\n'
                                   b'{"id": 8, "method": "status"}\n')
    codes = [r.get("error", {}).get("code") for r in replies]
    assert codes == ["bad-request", "bad-request", "no-such-method", "bad-request", "no-such-flow",
                     "no-such-app", "no-such-app", None]
    assert replies[-1]["result"]["apps"] == len(STARTERS)

    async def answer_out_of_turn() -> None:
        client = await ipc.Client.connect(system.kernel_socket)
        try:
            flow = (await client.call("flow.start", prompt="pomodoro timer"))["flow"]
            await next_event(client, flow_event("offered-cached"))
            with pytest.raises(ipc.RpcError) as early:
                await client.call("flow.approve", flow=flow, granted=[])
            assert early.value.code == "not-asked"
            await client.call("flow.answer", flow=flow, accept_cached=True)
            await next_event(client, flow_event("needs-approval"))
            with pytest.raises(ipc.RpcError) as widened:
                await client.call("flow.approve", flow=flow, granted=["network:evil.example"])
            assert widened.value.code == "bad-request"
            assert await client.call("flow.cancel", flow=flow) is True
            await next_event(client, flow_event("cancelled"))
            _, finished = await next_event(client, flow_event("finished"))
            assert finished["state"] == "cancelled"
        finally:
            await client.close()

    asyncio.run(answer_out_of_turn())
    assert system.call("apps.running") == [] and system.call("status")["flows"] == 0


def llmos_cli(system: System, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmos.cli", "app", *args], env=system.env, text=True,
                          capture_output=True, timeout=60, stdin=subprocess.DEVNULL)


def test_cli_goes_through_the_kernel_socket(system: System) -> None:
    listed = json.loads(llmos_cli(system, "list", "--json").stdout)
    assert len(listed) == len(STARTERS)
    assert all(r["codeHash"].startswith("sha256:") and r["title"] for r in listed)
    new = llmos_cli(system, "new", "pomodoro timer", "--yes", "--json")
    assert new.returncode == 0, new.stderr
    events = [json.loads(line) for line in new.stdout.splitlines()]
    assert [e["event"] for e in events] == ["looked-up", "offered-cached", "needs-approval", "approved",
                                           "launched"]
    launched = events[-1]
    running = system.call("apps.running")
    assert [a["pid"] for a in running] == [launched["pid"]], "the app runs under the kernel, not the CLI"
    ps = llmos_cli(system, "ps")
    assert launched["app_id"] in ps.stdout and "Pomodoro Timer" in ps.stdout
    stopped = llmos_cli(system, "stop", launched["app_id"])
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert system.call("apps.running") == []
    denied = llmos_cli(system, "new", "pomodoro timer", "--yes", "--deny", "storage:local")
    assert denied.returncode == 1 and "which you did not allow" in denied.stderr


NOTIFIER = """import { ui } from '@llm-os/sdk';
let sent = false;
export default function App() {
  if (!sent) { sent = true; ui.notify('hello from the app'); }
  return ui.Window({ title: 'Notifier' }, [ui.Text({}, 'hi')]);
}
"""


def test_app_notifications_and_window_close_reach_subscribers(system: System) -> None:
    from llmos.kernel.registry import Registry

    with Registry(system.state) as registry:  # safe across processes: the kernel sees it at once
        record = registry.add("an app that says hello", NOTIFIER, "hand-written", ["ui:window", "notify"])

    async def scenario() -> None:
        watcher = await ipc.Client.connect(system.kernel_socket)
        try:
            await watcher.call("subscribe", events=["app", "notify"])
            with pytest.raises(ipc.RpcError) as refused:  # never approved: no silent grant of everything
                await watcher.call("apps.run", ref=record.short)
            assert refused.value.code == "needs-approval"
            assert await watcher.call("apps.running") == []
            flow = (await watcher.call("flow.run", ref=record.short))["flow"]
            _, asked = await next_event(watcher, lambda n, d: n == "flow" and d["event"] == "needs-approval")
            await watcher.call("flow.approve", flow=flow, granted=[a["scope"] for a in asked["asks"]])
            seen: list[tuple[str, Any]] = []
            _, launched = await next_event(watcher, lambda n, d: n == "flow" and d["event"] == "launched",
                                           seen=seen)
            app = next(a for a in await watcher.call("apps.running") if a["app_id"] == launched["app_id"])
            assert app["title"] == "Notifier"
            early = [d for n, d in seen if n == "notify"]
            note = early[0] if early else (await next_event(watcher, lambda n, d: n == "notify"))[1]
            assert note == {"app_id": app["app_id"], "title": "Notifier", "text": "hello from the app"}
            compositor = await ipc.Client.connect(system.run / "compositor.sock")
            try:
                deadline = time.monotonic() + 15
                while not (mine := [w for w in await compositor.call("windows") if w["pid"] == app["pid"]]):
                    assert time.monotonic() < deadline, "the notifier's window did not appear"
                    await asyncio.sleep(0.01)
                await compositor.call("close", id=mine[0]["id"])  # what Super+Q does
            finally:
                await compositor.close()
            _, ended = await next_event(watcher, lambda n, d: n == "app" and d["state"] != "launched")
            assert ended["state"] == "exited" and ended["app_id"] == app["app_id"]
            again = await watcher.call("apps.run", ref=record.short)  # approved once: relaunch asks nothing
            assert again["title"] == "Notifier"
            await watcher.call("apps.stop", app_id=again["app_id"])
        finally:
            await watcher.close()

    asyncio.run(scenario())
    assert system.call("apps.running") == []


STRANGER = """import { ui } from '@llm-os/sdk';
export default function App() { return ui.Window({ title: 'Stranger' }, [ui.Text({}, 'hi')]); }
"""


def test_an_untrusted_app_shows_its_provenance_and_runs_only_when_confirmed(system: System,
                                                                            tmp_path: Path) -> None:
    from llmos.kernel.registry import Registry

    with Registry(tmp_path / "stranger") as stranger:  # another machine, whose key nobody here trusts
        made = stranger.add("an app from a stranger", STRANGER, "their-model", ["ui:window"])
        stranger_key = stranger.key.public_hex
    with Registry(system.state) as registry:  # safe across processes: the kernel sees it at once
        registry.remote_add("stranger", str(tmp_path / "stranger" / "registry.git"))
        assert registry.pull("stranger").untrusted == (made.codeHash,)

    shown = system.call("apps.provenance", ref=made.short)
    assert shown["codeHash"] == made.codeHash and shown["origin"] == "stranger"
    assert shown["trusted"] is False and shown["audits"] == [] and shown["ratings"] == []
    assert shown["author"] == {"key": stranger_key, "name": None, "trusted": False}
    found = system.call("apps.search", text="an app from a stranger", limit=1)[0]
    assert (found["hash"], found["origin"], found["trusted"], found["title"]) == (
        made.codeHash, "stranger", False, "Stranger")

    for method, params in (("apps.run", {"granted": ["ui:window"]}), ("flow.run", {})):
        with pytest.raises(ipc.RpcError) as refused:
            system.call(method, ref=made.short, **params)
        assert refused.value.code == "untrusted", method
        assert "signed by a key you do not trust; confirm to run it anyway" in refused.value.message
    with pytest.raises(ipc.RpcError) as sloppy:
        system.call("apps.run", ref=made.short, granted=["ui:window"], confirm_untrusted="yes")
    assert sloppy.value.code == "bad-request"
    assert system.call("apps.running") == [] and system.call("status")["flows"] == 0
    with pytest.raises(ipc.RpcError) as unknown:
        system.call("apps.provenance", ref="sha256:0000")
    assert unknown.value.code == "no-such-app"

    started = system.call("apps.run", ref=made.short, granted=["ui:window"], confirm_untrusted=True)
    assert started["hash"] == made.codeHash and started["title"] == "Stranger"
    system.call("apps.stop", app_id=started["app_id"])

    with Registry(system.state) as registry:  # the user trusts the stranger's key: no confirmation now
        registry.trust_add("friend", stranger_key)
    shown = system.call("apps.provenance", ref=made.short)
    assert shown["trusted"] is True
    assert shown["author"] == {"key": stranger_key, "name": "friend", "trusted": True}
    again = system.call("apps.run", ref=made.short)  # approved above, trusted now: asks nothing
    assert again["hash"] == made.codeHash
    system.call("apps.stop", app_id=again["app_id"])
    assert system.call("apps.running") == []


def test_the_kernel_announces_when_apps_open_at_full_speed(system: System) -> None:
    """`llmos bench boot` and the VM tests read this boot marker: printed once the kernel accepts and
    its zygote has loaded, with a '!' so that PID 1 echoes it to the console."""
    log = system.root / "kernel.log"
    wait_for(lambda: "!llmos: apps ready t=" in log.read_text(errors="replace"), 60, "the apps-ready marker")
    text = log.read_text(errors="replace")
    assert text.index("zygote ready") < text.index("!llmos: apps ready t="), text[-2000:]
    assert text.count("!llmos: apps ready t=") == 1


def test_the_example_library_loads_after_the_apps_are_ready(system: System) -> None:
    """Its load is seconds of the kernel's CPU under TCG: it comes after the apps-ready marker and a
    quiet stretch, not beside the first apps opened after boot."""
    log = system.root / "kernel.log"
    wait_for(lambda: "example library:" in log.read_text(errors="replace"), 60, "the example library")
    text = log.read_text(errors="replace")
    assert text.index("!llmos: apps ready t=") < text.index("example library:"), text[-2000:]
