"""Calls between apps through the kernel (kernel/sandbox/compose.py, appcalls.py, callabi.py), with real
app hosts on a real broker: HeadlessKernel launches them and drives them as a person would.

Each caller shows its last outcome as its first text: "ok <JSON>" or "<code>: <message>"."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmos.ipc import Client
from llmos.kernel.sandbox.callabi import MAX_DEPTH
from llmos.kernel.sandbox.headless import SCRIPTED, HeadlessApp, HeadlessKernel

pytestmark = pytest.mark.timeout(180)

CALLEE = """
import { ui, apps, storage } from '@llm-os/sdk';
apps.provide('double', (arg: any, call: any) => ({ twice: arg.n * 2, from: call.from }),
             'double({n: number}) -> {twice, from}');
apps.provide('peek', () => ({ secret: storage.get('secret', 'nothing'), notify: typeof ui.notify,
                              keys: storage.keys() }));
apps.provide('wait', () => new Promise(() => {}));
apps.provide('huge', () => 'x'.repeat(70000));
apps.provide('boom', () => { throw new Error('callee says no'); });
export default function App() {
  return ui.Window({ title: 'Callee' }, [ui.Text('callee up')]);
}
"""
CALLEE_SCOPES = ("ui:window", "storage:local")

CALLER = """
import { ui, apps, storage } from '@llm-os/sdk';
export default function App() {
  const [shown, setShown] = ui.useState('idle');
  const ask = (target: string, arg?: any, options?: any) => () => {
    setShown('waiting');
    apps.call(target, arg, options).then((value: any) => setShown('ok ' + JSON.stringify(value)),
                                         (error: any) => setShown(error.code + ': ' + error.message));
  };
  return ui.Window({ title: 'Caller' }, [
    ui.Text(shown),
    ui.Text('call is ' + typeof apps.call + ', provide is ' + typeof apps.provide),
    ui.Button({ onClick: () => storage.set('secret', 'caller diary') }, 'Keep'),
    ui.Button({ onClick: ask('callee/double', { n: 21 }) }, 'Double'),
    ui.Button({ onClick: ask('callee/peek') }, 'Peek'),
    ui.Button({ onClick: ask('callee/wait', null, { timeoutMs: 300 }) }, 'Slow'),
    ui.Button({ onClick: ask('callee/huge') }, 'Huge'),
    ui.Button({ onClick: ask('callee/boom') }, 'Boom'),
    ui.Button({ onClick: ask('callee/missing') }, 'Missing'),
    ui.Button({ onClick: ask('callee/double', () => 1) }, 'Function'),
    ui.Button({ onClick: ask('callee/double', { n: 'x'.repeat(70000) }) }, 'Large'),
    ui.Button({ onClick: ask('stranger/double', { n: 1 }) }, 'Stranger'),
  ]);
}
"""
CALLER_SCOPES = ("ui:window", "storage:local", "notify", "app:callee/double", "app:callee/peek",
                 "app:callee/wait", "app:callee/huge", "app:callee/boom", "app:callee/missing",
                 "app:stranger/double")

# Two apps that call each other back: each bounce calls the other's, one deeper, until refused.
BOUNCER = """
import { ui, apps } from '@llm-os/sdk';
const OTHER = '%s';
apps.provide('bounce', (n: any) => apps.call(OTHER + '/bounce', n + 1).then(
  (value: any) => value, (error: any) => ({ stopped: error.code, depth: n })));
export default function App() {
  const [shown, setShown] = ui.useState('idle');
  return ui.Window({ title: 'Bouncer' }, [
    ui.Text(shown),
    ui.Button({ onClick: () => apps.call(OTHER + '/bounce', 1).then(
      (value: any) => setShown('ok ' + JSON.stringify(value)),
      (error: any) => setShown(error.code + ': ' + error.message)) }, 'Bounce'),
  ]);
}
"""
OUTCOME = re.compile(r"^(ok |[a-z-]+: )")
# These tests are about calls, not CPU: on a machine busy with other work, the per-second CPU budget
# (which counts time spent waiting to run) could stop an app mid-test. Every other limit holds.
LIMITS = SCRIPTED


def texts(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [t for child in node.get("children", []) for t in texts(child)]
    return []


async def until(holds: Callable[[], Any], timeout: float = 20.0, what: str = "the condition") -> None:
    """Wait for `holds()` to be true (awaiting it if it is a coroutine), for at most `timeout` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = holds()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert loop.time() < deadline, f"{what} did not happen within {timeout} s"
        await asyncio.sleep(0.02)


async def shown(app: HeadlessApp) -> str:
    return texts((await app.process.tree())["tree"])[0]


async def outcome(app: HeadlessApp, button: str, timeout: float = 20.0) -> str:
    """Press `button` and wait for the outcome it shows."""
    await app.driver.press(button)

    async def settled() -> bool:
        return bool(OUTCOME.match(await shown(app)))
    await until(settled, timeout, f"an outcome after {button!r}")
    return await shown(app)


def ok_value(text: str) -> Any:
    assert text.startswith("ok "), text
    return json.loads(text[3:])


async def raw_call(kernel: HeadlessKernel, token: str, **params: Any) -> dict[str, Any]:
    """What a taken-over app host could send: app.call straight on the kernel's socket."""
    client = await Client.connect(kernel.root / "kernel.sock")
    try:
        assert await client.call("app.call", token=token, ref=7, **params) is True
        name, data = await asyncio.wait_for(client.events.get(), 20)
        assert name == "apps.answer" and data["ref"] == 7
        return dict(data)
    finally:
        await client.close()


def run(scenario: Any) -> None:
    asyncio.run(asyncio.wait_for(scenario, 150))


def audit(kernel: HeadlessKernel, app: str, decision: str | None = None) -> list[tuple[str, str, str]]:
    assert kernel.authority is not None
    kernel.authority.audit.flush()
    return [(e.what, e.decision, e.reason) for e in kernel.authority.audit.entries(app=app, decision=decision,
                                                                                    limit=1000)]


def test_a_granted_call_reaches_the_callee_and_its_answer_comes_back(short_dir: Path,
                                                                      wasm_cache: Path) -> None:
    async def scenario() -> None:
        async with HeadlessKernel(short_dir, wasm_cache=wasm_cache, limits=LIMITS) as kernel:
            await kernel.launch(CALLEE, CALLEE_SCOPES, app_id="callee")
            caller = await kernel.launch(CALLER, CALLER_SCOPES, app_id="caller", test_clock=False)
            assert ok_value(await outcome(caller, "Double")) == {"twice": 42, "from": "caller"}
            calls = audit(kernel, "caller")
            assert ("app.call callee/double", "allow", "app:callee/double") in calls
            assert any(what == "app.answer callee/double" and reason.startswith("ok in ")
                       for what, _, reason in calls)
            served = [reason for what, _, reason in audit(kernel, "callee") if what == "app.serve double"]
            assert len(served) == 1 and "from caller (caller > callee)" in served[0]
    run(scenario())


def test_without_the_capability_the_member_does_not_exist_and_the_kernel_refuses(short_dir: Path,
                                                                               wasm_cache: Path) -> None:
    async def scenario() -> None:
        async with HeadlessKernel(short_dir, wasm_cache=wasm_cache, limits=LIMITS) as kernel:
            await kernel.launch(CALLEE, CALLEE_SCOPES, app_id="callee")
            bare = await kernel.launch(CALLER, ("ui:window", "storage:local"), app_id="bare",
                                       test_clock=False)
            assert "call is undefined, provide is function" in texts((await bare.process.tree())["tree"])
            narrow = await kernel.launch(CALLER, ("ui:window", "app:callee/double"), app_id="narrow",
                                         test_clock=False)
            assert (await outcome(narrow, "Peek")).startswith(
                "denied: apps.call callee/peek: needs 'app:callee/peek'")
            # A host that skips its runtime's check meets the kernel's.
            answer = await raw_call(kernel, narrow.token, target="callee/peek", args="null")
            assert answer["ok"] is False and answer["code"] == "denied" and "not granted" in answer["value"]
            assert any(what == "app.call callee/peek" for what, _, _ in audit(kernel, "narrow", "deny"))
            assert not any(what == "app.serve peek" for what, _, _ in audit(kernel, "callee"))
    run(scenario())


def test_a_revoked_capability_stops_the_next_call(short_dir: Path, wasm_cache: Path) -> None:
    async def scenario() -> None:
        async with HeadlessKernel(short_dir, wasm_cache=wasm_cache, limits=LIMITS) as kernel:
            assert kernel.broker is not None
            await kernel.launch(CALLEE, CALLEE_SCOPES, app_id="callee")
            caller = await kernel.launch(CALLER, CALLER_SCOPES, app_id="caller", test_clock=False)
            assert ok_value(await outcome(caller, "Double"))["twice"] == 42
            await kernel.broker.revoke(caller.token, "the user took the grant back")
            code, stopped = await caller.process.wait()
            assert code == 1 and stopped is not None and stopped["kind"] == "revoked"
            answer = await raw_call(kernel, caller.token, target="callee/double", args='{"n": 1}')
            assert answer["code"] == "denied" and "revoked" in answer["value"]
            served = [what for what, _, _ in audit(kernel, "callee") if what == "app.serve double"]
            assert len(served) == 1  # the refused call never reached the callee
    run(scenario())


def test_a_callee_works_under_its_own_grants_and_never_reaches_the_callers_storage(short_dir: Path,
                                                                                  wasm_cache: Path) -> None:
    async def scenario() -> None:
        async with HeadlessKernel(short_dir, wasm_cache=wasm_cache, limits=LIMITS) as kernel:
            assert kernel.broker is not None
            await kernel.launch(CALLEE, CALLEE_SCOPES, app_id="callee")
            caller = await kernel.launch(CALLER, CALLER_SCOPES, app_id="caller", test_clock=False)
            await caller.driver.press("Keep")
            assert kernel.broker.storage.get("caller", "secret") == json.dumps("caller diary")
            peeked = ok_value(await outcome(caller, "Peek"))
            # Its own (empty) storage, and no notify: the caller's grants did not come with the call.
            assert peeked == {"secret": "nothing", "notify": "undefined", "keys": []}
            reads = [(what, reason) for what, decision, reason in audit(kernel, "callee", "allow")
                     if what.startswith("storage.")]
            assert ("storage.get secret", "storage:local") in reads
            assert not any(what.startswith("storage.") for what, _, _ in audit(kernel, "caller")
                           if what != "storage.set secret")
    run(scenario())


def test_a_call_loop_is_bounded_and_both_apps_run_on(short_dir: Path, wasm_cache: Path) -> None:
    async def scenario() -> None:
        async with HeadlessKernel(short_dir, wasm_cache=wasm_cache, limits=LIMITS) as kernel:
            ping = await kernel.launch(BOUNCER % "pong", ("ui:window", "app:pong/bounce"), app_id="ping",
                                       test_clock=False)
            pong = await kernel.launch(BOUNCER % "ping", ("ui:window", "app:ping/bounce"), app_id="pong",
                                       test_clock=False)
            assert ok_value(await outcome(ping, "Bounce")) == {"stopped": "too-deep", "depth": MAX_DEPTH}
            refused = [reason for what, _, reason in audit(kernel, "ping", "deny")
                       if what == "app.call pong/bounce"]
            path = " > ".join(["ping", "pong"] * 3)
            assert refused == [f"too-deep: {path} is more than {MAX_DEPTH} calls deep"]
            for app in (ping, pong):
                assert (await app.process.status())["state"] == "running"
            assert ok_value(await outcome(pong, "Bounce")) == {"stopped": "too-deep", "depth": MAX_DEPTH}
    run(scenario())


def test_bad_input_gets_a_typed_error_and_the_callee_runs_on(short_dir: Path, wasm_cache: Path) -> None:
    async def scenario() -> None:
        async with HeadlessKernel(short_dir, wasm_cache=wasm_cache, limits=LIMITS) as kernel:
            callee = await kernel.launch(CALLEE, CALLEE_SCOPES, app_id="callee")
            caller = await kernel.launch(CALLER, CALLER_SCOPES, app_id="caller", test_clock=False)
            expected = {
                "Function": "bad-argument: apps.call callee/double: the argument holds a function",
                "Large": "too-large: apps.call callee/double: the argument is over 65536 bytes",
                "Missing": "no-such-function: callee provides no function 'missing'",
                "Slow": "timeout: callee/wait did not answer within",
                "Boom": "failed: callee/boom: Error: callee says no",
                "Huge": "too-large: callee/huge: the result is over 65536 bytes",
                "Stranger": "no-such-app: stranger is not installed",
            }
            for button, start in expected.items():
                assert (await outcome(caller, button)).startswith(start), button
                assert ok_value(await outcome(caller, "Double"))["twice"] == 42, f"after {button}"
            assert (await callee.process.status())["state"] == "running"
            # What a taken-over caller host could send instead: the kernel checks it again.
            assert (await raw_call(kernel, caller.token, target="callee/double", args="{nope"))["code"] == \
                "bad-argument"
            assert (await raw_call(kernel, caller.token, target="callee/double", args="NaN"))["code"] == \
                "bad-argument"
            big = json.dumps({"n": "x" * 70_000})
            assert (await raw_call(kernel, caller.token, target="callee/double", args=big))["code"] == \
                "too-large"
            assert (await raw_call(kernel, caller.token, target="callee/../double", args="1"))["code"] == \
                "bad-argument"
            denials = {reason.split(":")[0] for what, _, reason in audit(kernel, "caller", "deny")
                       if what.startswith("app.call")}
            assert {"no-such-function", "no-such-app", "too-large", "bad-argument"} <= denials
    run(scenario())


def test_a_callee_that_is_not_running_is_started_headless_once(short_dir: Path, wasm_cache: Path) -> None:
    async def scenario() -> None:
        async with HeadlessKernel(short_dir, wasm_cache=wasm_cache, limits=LIMITS) as kernel:
            kernel.install("callee", CALLEE, CALLEE_SCOPES)
            caller = await kernel.launch(CALLER, CALLER_SCOPES, app_id="caller", test_clock=False)
            assert ok_value(await outcome(caller, "Double", timeout=60)) == {"twice": 42, "from": "caller"}
            assert [app.app_id for app in kernel.started] == ["callee"]
            assert ok_value(await outcome(caller, "Double"))["twice"] == 42
            assert len(kernel.started) == 1  # the running callee served the second call
            assert (await outcome(caller, "Stranger")).startswith("no-such-app: stranger is not installed")
    run(scenario())
