"""Every per-app structure in the kernel is bounded and freed when the app stops: notify options are
capped and validated before anything keeps them, and an app's watch connection and bus
subscriptions go with its host."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest

from llmos.ipc import RpcError
from llmos.kernel.sandbox.broker import Broker
from llmos.kernel.sandbox.syncrpc import SyncClient

from .test_attacks import button, texts

NOTIFIER = """import { ui } from '@llm-os/sdk';
export default function App() {
  const [said, setSaid] = ui.useState<string>('');
  const pad = () => {
    try { ui.notify('hi', { pad: 'A'.repeat(3500000) } as any); } catch (e) { setSaid(String(e)); }
  };
  const flood = () => {
    for (let i = 0; i < 110; i++) {
      try { ui.notify('hi', { pad: 'A'.repeat(3500000) } as any); } catch (e) { /* again */ }
    }
  };
  const fine = () => ui.notify('fine', { sound: true, timeout: 5000, colour: 'red' } as any);
  return ui.Window({ title: 'notifier' }, [
    ui.Button({ onClick: pad }, 'pad'), ui.Button({ onClick: flood }, 'flood'),
    ui.Button({ onClick: fine }, 'fine'), ui.Text({}, said),
  ]);
}
"""


def test_huge_notify_options_are_refused_before_the_kernel_keeps_them(make_kernel):
    async def scenario():
        async with make_kernel() as kernel:
            token = kernel.authority.mint("notifier", ["ui:window", "notify"])
            app = await kernel.manager.launch(NOTIFIER, token)
            tree = (await app.tree())["tree"]
            answer = await app.event(button(tree, "pad"))
            assert answer["state"] == "running"
            said = texts(answer["tree"])[-1]
            assert "CapabilityError" in said and "options" in said and "bytes" in said, said
            tree = (await app.event(button(answer["tree"], "fine")))["tree"]
            fine = ("notifier", "fine", {"sound": True, "timeout": 5000})  # unknown 'colour' dropped
            assert list(kernel.broker.notifications) == [fine]

            # 110 of them: the handler is held to its deadline however its time is spent
            started = time.monotonic()
            with contextlib.suppress(ConnectionError, RpcError):
                await app.event(button(tree, "flood"))
            code, stopped = await app.wait()
            assert code == 1 and stopped["kind"] == "deadline", stopped
            assert time.monotonic() - started < 2.5
            assert len(kernel.broker.notifications) == 1
    asyncio.run(asyncio.wait_for(scenario(), 60))


@pytest.mark.parametrize(("options", "words"), [
    (json.dumps({"pad": "A" * 100_000}), "over"),
    ("[1, 2]", "an object"),
    (json.dumps({"sound": "loud"}), "options.sound"),
    (json.dumps({"timeout": "soon"}), "options.timeout"),
    ("{not json", "JSON"),
])
def test_the_broker_refuses_bad_notify_options_from_a_compromised_host(make_kernel, options, words):
    async def scenario():
        async with make_kernel() as kernel:
            token = kernel.authority.mint("rogue", ["notify"])

            def call() -> None:
                client = SyncClient(kernel.socket)
                try:
                    client.call("app.notify", token=token, text="hi", options=options)
                finally:
                    client.close()
            with pytest.raises(RpcError) as error:
                await asyncio.to_thread(call)
            assert error.value.code == "bad-request" and words in error.value.message, error.value.message
            assert not kernel.broker.notifications
    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_notification_text_and_history_are_bounded(tmp_path):
    from llmos.kernel.caps import open_authority
    from llmos.kernel.sandbox.storage import AppStorage

    authority = open_authority(tmp_path / "state")
    broker = Broker(authority, AppStorage(tmp_path / "apps"))
    token = authority.mint("chatty", ["notify"])

    async def many() -> None:
        for i in range(500):
            await broker.notify(token, "t" * 10_000, {"sound": i % 2 == 0})
    try:
        asyncio.run(many())
        assert len(broker.notifications) <= 100
        assert all(len(text) <= 500 for _, text, _ in broker.notifications)
    finally:
        authority.audit.close()
        authority.revocations.close()
        broker.storage.close()


SUBSCRIBER = """import { ui, bus } from '@llm-os/sdk';
export default function App() {
  const [got, setGot] = ui.useState<string>('');
  bus.useSubscription('chat', (m: any) => setGot(String(m)));
  return ui.Window({ title: 'sub' }, [ui.Text({}, got)]);
}
"""


def test_an_apps_watch_and_bus_subscriptions_are_freed_when_its_host_stops(make_kernel):
    async def scenario():
        async with make_kernel() as kernel:
            token = kernel.authority.mint("sub", ["ui:window", "bus:chat"])
            app = await kernel.manager.launch(SUBSCRIBER, token)

            async def until(condition) -> None:
                deadline = time.monotonic() + 5
                while not condition():
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.01)
            await until(lambda: kernel.broker.bus.channels.get("chat"))
            assert len(kernel.broker.watchers) == 1
            assert await app.stop() == 0
            # freed as the connections close: no later publish or revoke needed to notice
            await until(lambda: not kernel.broker.watchers and not kernel.broker.bus.channels)
    asyncio.run(asyncio.wait_for(scenario(), 60))
