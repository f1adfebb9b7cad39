"""Attacks that must fail with a clear error and an audit entry, against real app host processes
and the real broker over its Unix socket."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import pytest

from llmos.ipc import RpcError
from llmos.kernel.sandbox.manager import LaunchError
from llmos.kernel.sandbox.syncrpc import SyncClient

from .conftest import app_source


def run(coro, timeout=60):
    asyncio.run(asyncio.wait_for(coro, timeout))


async def denied(kernel, method, **params) -> RpcError:
    """Call the broker directly, as a compromised app host would (in a thread: the server runs in
    this event loop)."""
    def call():
        client = SyncClient(kernel.socket)
        try:
            client.call(method, **params)
        finally:
            client.close()
    with pytest.raises(RpcError) as error:
        await asyncio.to_thread(call)
    return error.value


def texts(tree):
    out = []
    for child in tree["children"]:
        if isinstance(child, dict):
            out += texts(child)
        elif isinstance(child, str):
            out.append(child)
    return out


def button(tree, label):
    for child in tree["children"]:
        if isinstance(child, dict):
            if child["type"] == "Button" and child["children"] == [label]:
                return child["props"]["onClick"]["$handler"]
            found = button(child, label)
            if found:
                return found
    return None


def test_ungranted_functions_do_not_exist_and_probing_finds_nothing(make_kernel):
    async def scenario():
        async with make_kernel() as kernel:
            token = kernel.authority.mint("probe", ["ui:window", "storage:local"])
            app = await kernel.manager.launch(app_source("probe.ts"), token)
            result = json.loads(texts((await app.tree())["tree"])[0])
            assert result["fetch"] == "undefined"
            assert result["clipboardRead"] == "undefined"
            assert result["publish"] == "undefined"
            assert result["useInterval"] == "undefined"
            assert result["useLocal"] == "function"
            assert result["globals"] == [] and result["viaConstructor"] == [] and result["protoNames"] == []
            assert "code built from strings is not allowed" in result["ctorError"]
            assert "not a function" in result["call"]
            assert result["patched"] == "TypeError"  # the SDK objects are frozen
            assert result["caps"] == ["storage:local", "ui:window"] and result["hasNet"] is False

            # A compromised host that calls the kernel anyway is denied, with an audit entry.
            for method, params, needs in [
                ("app.net.fetch", {"url": "http://example.com/", "options": "{}"}, "network:example.com"),
                ("app.clipboard.read", {}, "clipboard:read"),
                ("app.bus.publish", {"channel": "chat", "message": "1"}, "bus:chat"),
            ]:
                error = await denied(kernel, method, token=token, **params)
                assert error.code == "denied" and needs in error.message
            reasons = [e.reason for e in kernel.denials("probe")]
            assert sum("was not granted" in r for r in reasons) == 3
    run(scenario())


def test_forged_and_expired_tokens_do_not_launch(make_kernel, tmp_path):
    async def scenario():
        async with make_kernel() as kernel:
            from llmos.kernel.caps import open_authority
            stranger = open_authority(tmp_path / "stranger")
            forged = stranger.mint("notes", ["ui:window", "storage:local"])
            with pytest.raises(LaunchError) as error:
                await kernel.manager.launch(app_source("notes.ts"), forged)
            assert error.value.status["kind"] == "denied" and "forged" in error.value.status["message"]

            expired = kernel.authority.mint("notes", ["ui:window", "storage:local"],
                                            ttl=timedelta(seconds=-1))
            with pytest.raises(LaunchError) as error:
                await kernel.manager.launch(app_source("notes.ts"), expired)
            assert "expired" in error.value.status["message"]
            reasons = [e.reason for e in kernel.denials()]
            assert any(r.startswith("forged") for r in reasons)
            assert any(r.startswith("expired") for r in reasons)
    run(scenario())


def revoke(kernel, token: str) -> None:
    kernel.authority.revoke(token, "user pressed revoke")


def expire(kernel, token: str) -> None:
    later = time.time() + 600  # the kernel's clock, moved past the expiry instead of waited for
    kernel.authority.clock = lambda: later


@pytest.mark.parametrize(("lose", "reason"), [(revoke, "revoked"), (expire, "expired")])
def test_a_lost_grant_takes_effect_on_the_running_apps_next_call(make_kernel, lose, reason):
    async def scenario():
        async with make_kernel() as kernel:
            token = kernel.authority.mint("notes", ["ui:window", "storage:local"], ttl=timedelta(minutes=5))
            app = await kernel.manager.launch(app_source("notes.ts"), token)
            tree = (await app.tree())["tree"]
            tree = (await app.event(button(tree, "Write")))["tree"]
            assert texts(tree)[0] == "written"
            lose(kernel, token)
            answer = await app.event(button(tree, "Write"))
            # The write is denied; the re-render's storage.get is denied too, so the app stops.
            assert answer["state"] == "stopped"
            code, stopped = await app.wait()
            assert code == 1 and f"CapabilityError: {reason}" in stopped["message"]
            assert any(e.reason.startswith(reason) and e.what.startswith("storage.")
                       for e in kernel.denials("notes"))
    run(scenario())


def test_one_app_can_not_read_another_apps_storage_or_bus(make_kernel):
    async def scenario():
        async with make_kernel() as kernel:
            kernel.broker.storage.set("diary", "secret", json.dumps("dear diary"))
            token = kernel.authority.mint("notes", ["ui:window", "storage:local"])
            app = await kernel.manager.launch(app_source("notes.ts"), token)
            assert texts((await app.tree())["tree"])[1] == "none"  # its own namespace is empty
            assert kernel.broker.storage.get("diary", "secret") == json.dumps("dear diary")

            chat_a = kernel.authority.mint("chat-a", ["ui:window", "bus:chat"])
            chat_b = kernel.authority.mint("chat-b", ["ui:window", "bus:chat"])
            a = await kernel.manager.launch(app_source("chat.ts"), chat_a)
            b = await kernel.manager.launch(app_source("chat.ts"), chat_b)
            # Wait until b's subscription reached the kernel, then a publishes.
            for _ in range(200):
                if kernel.broker.bus.subscribers("chat") and len(kernel.broker.bus.subscribers("chat")) == 2:
                    break
                await asyncio.sleep(0.01)
            assert len(kernel.broker.bus.subscribers("chat")) == 2
            await a.event(button((await a.tree())["tree"], "Send"))
            for _ in range(200):
                if texts((await b.tree())["tree"])[0] != "none":
                    break
                await asyncio.sleep(0.01)
            assert texts((await b.tree())["tree"])[0] == "chat-a: hello"

            spied = (await b.event(button((await b.tree())["tree"], "Spy")))["tree"]
            assert "bus:private" in texts(spied)[0] and "not granted" in texts(spied)[0]
            error = await denied(kernel, "app.bus.publish", token=chat_b, channel="private", message="{}")
            assert error.code == "denied"
            error = await denied(kernel, "app.caps.attenuate", token=chat_b,
                                 scopes=["bus:chat", "bus:private"])
            assert "widen" in error.message
            reasons = [e.reason for e in kernel.denials("chat-b")]
            assert any("bus:private" in r for r in reasons) and any(r.startswith("widen") for r in reasons)
    run(scenario())


def test_revocation_stops_an_app_that_makes_no_kernel_calls(make_kernel):
    async def scenario():
        async with make_kernel() as kernel:
            token = kernel.authority.mint("quiet", ["ui:window"])
            app = await kernel.manager.launch(app_source("abuse.ts"), token)
            await kernel.broker.revoke(token, "user pressed revoke")
            code, stopped = await app.wait()
            assert code == 1 and stopped["kind"] == "revoked" and "revoked" in stopped["message"]
            assert any(e.what == "caps.revoke" for e in kernel.authority.audit.entries(app="quiet"))
    run(scenario())


def test_bus_subscriptions_are_once_per_connection_and_end_with_it(tmp_path, short_dir):
    """Real broker on a real socket: a repeated subscribe must not double deliveries (an app could
    amplify every message), and a closed subscriber must not linger in the channel."""
    from llmos.ipc import Client, Server
    from llmos.kernel.caps import open_authority
    from llmos.kernel.sandbox.broker import Broker
    from llmos.kernel.sandbox.storage import AppStorage

    async def scenario():
        authority = open_authority(tmp_path / "state")
        broker = Broker(authority, AppStorage(tmp_path / "state" / "apps"))
        server = Server(broker.handlers())
        socket = short_dir / "bus.sock"
        await server.start(socket)
        listener = await Client.connect(socket)
        try:
            token = authority.mint("listener", ["bus:news"])
            sender = authority.mint("sender", ["bus:news"])
            for _ in range(2):
                await listener.call("app.bus.subscribe", token=token, channel="news")
            assert len(broker.bus.subscribers("news")) == 1
            assert await broker.bus_publish(sender, "news", '"one"') == 1
            assert await broker.bus_publish(sender, "news", '"two"') == 1
            got = [await asyncio.wait_for(listener.events.get(), 5) for _ in range(2)]
            assert [data["message"] for _, data in got] == ['"one"', '"two"']
            await listener.close()
            deadline = asyncio.get_running_loop().time() + 5
            while server.connections:
                assert asyncio.get_running_loop().time() < deadline, "the server kept the closed client"
                await asyncio.sleep(0.01)
            assert await broker.bus_publish(sender, "news", '"three"') == 0
            assert broker.bus.subscribers("news") == [] and "news" not in broker.bus.channels
        finally:
            await listener.close()
            await server.close()
            authority.audit.close()
            authority.revocations.close()
    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_revocation_reaches_watchers_without_ui_window_and_spares_the_rest(tmp_path, short_dir):
    from llmos.ipc import Client, Server
    from llmos.kernel.caps import open_authority
    from llmos.kernel.sandbox.broker import Broker
    from llmos.kernel.sandbox.storage import AppStorage

    async def scenario():
        authority = open_authority(tmp_path / "state")
        broker = Broker(authority, AppStorage(tmp_path / "state" / "apps"))
        server = Server(broker.handlers())
        await server.start(short_dir / "watch.sock")
        doomed = await Client.connect(short_dir / "watch.sock")
        bystander = await Client.connect(short_dir / "watch.sock")
        try:
            doomed_token = authority.mint("headless", ["timer"])
            await doomed.call("app.watch", token=doomed_token)
            await bystander.call("app.watch", token=authority.mint("other", ["bus:news"]))
            await broker.revoke(doomed_token, "test")
            event, data = await asyncio.wait_for(doomed.events.get(), 5)
            assert event == "caps.revoked" and "revoked" in data["reason"]
            assert bystander.events.empty()
            assert authority.audit.entries(app="other", decision="deny") == []  # no ui:window noise
        finally:
            await doomed.close()
            await bystander.close()
            await server.close()
            authority.audit.close()
            authority.revocations.close()
    asyncio.run(asyncio.wait_for(scenario(), 30))
