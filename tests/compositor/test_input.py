"""Input injected over the ipc socket reaches the focused client; reserved shortcuts do not."""

from __future__ import annotations

import asyncio

import pytest

from llmos import ipc

from .conftest import wait_for
from .wlclient import solid

pytestmark = pytest.mark.timeout(60)

KEY_A, KEY_TAB, KEY_LEFTALT, KEY_LEFTSHIFT = 30, 15, 56, 42
EV_KEY, BTN_LEFT = 1, 0x110


def key(code: int, value: int) -> dict:
    return {"type": EV_KEY, "code": code, "value": value}


def mapped_window(compositor, client, title: str, size=(50, 40)):
    window = client.toplevel(title)
    window.draw(*size, solid((40, 80, 120)))
    client.roundtrip()
    info = wait_for(lambda: next((w for w in compositor.call("windows") if w["title"] == title), None),
                    what=f"window {title}")
    return window, info


def test_key_reaches_focused_client_with_keymap_and_modifiers(compositor, connect) -> None:
    client = connect()
    client.keyboard()
    mapped_window(compositor, client, "typing")
    wait_for(lambda: client.roundtrip() >= 0 and client.keyboard_entered, what="keyboard enter")
    assert client.keymap_size > 1000, "an xkb keymap text arrives through the memfd"
    shift_a = [key(KEY_LEFTSHIFT, 1), key(KEY_A, 1), key(KEY_A, 0), key(KEY_LEFTSHIFT, 0)]
    compositor.call("inject", events=shift_a)
    wait_for(lambda: client.roundtrip() >= 0 and len(client.keys) == 4, what="4 key events")
    assert client.keys == [(KEY_LEFTSHIFT, 1), (KEY_A, 1), (KEY_A, 0), (KEY_LEFTSHIFT, 0)]
    assert any(m[0] & 1 for m in client.modifiers), "shift shows up as a depressed modifier"
    assert client.modifiers[-1][0] == 0


def test_alt_tab_is_reserved_and_published(compositor, connect) -> None:
    client = connect()
    client.keyboard()
    mapped_window(compositor, client, "one")
    mapped_window(compositor, client, "two")
    wait_for(lambda: client.roundtrip() >= 0 and client.keyboard_entered, what="keyboard enter")

    async def scenario() -> tuple[str, dict]:
        control = await ipc.Client.connect(compositor.control)
        try:
            await control.call("subscribe", events=["shortcut"])
            await control.call("inject", events=[key(KEY_LEFTALT, 1), key(KEY_TAB, 1), key(KEY_TAB, 0),
                                                 key(KEY_LEFTALT, 0)])
            return await asyncio.wait_for(control.events.get(), 10)
        finally:
            await control.close()

    event, data = asyncio.run(scenario())
    assert (event, data) == ("shortcut", {"name": "switcher"})
    focused = [w["title"] for w in compositor.call("windows") if w["focused"]]
    assert focused == ["one"], "Alt+Tab brought the other window to the front"
    wait_for(lambda: client.roundtrip() >= 0 and (KEY_LEFTALT, 0) in client.keys, what="alt release")
    assert KEY_TAB not in [code for code, _ in client.keys], "the reserved Tab never reached the client"


def test_click_focuses_and_reaches_pointer(compositor, connect) -> None:
    a, b = connect(), connect()
    a.pointer()
    _, low = mapped_window(compositor, a, "low", (60, 60))
    _, high = mapped_window(compositor, b, "high", (60, 60))
    compositor.call("move", id=low["id"], x=0, y=0)
    compositor.call("move", id=high["id"], x=100, y=100)
    compositor.call("inject", pointer=[30, 20])
    compositor.call("inject", events=[key(BTN_LEFT, 1), key(BTN_LEFT, 0)])
    windows = {w["title"]: w for w in compositor.call("windows")}
    assert windows["low"]["focused"] and not windows["high"]["focused"]
    wait_for(lambda: a.roundtrip() >= 0 and any(e == "button" for e, _ in a.pointer_events), what="button")
    enter = next(args for name, args in a.pointer_events if name == "enter")
    assert (enter[2], enter[3]) == (30.0, 20.0), "surface-local pointer coordinates"
    button = next(args for name, args in a.pointer_events if name == "button")
    assert button[2:] == (BTN_LEFT, 1)


def test_inject_rejects_bad_events(compositor) -> None:
    with pytest.raises(ipc.RpcError, match="bad-request"):
        compositor.call("inject", events={"type": 1})


def test_input_from_a_hal_that_starts_late_arrives_within_a_second_of_its_socket(tmp_path) -> None:
    """The compositor starts while hal is still loading (init/services.py): its reconnect backoff is
    capped at HAL_RETRY_MAX_S, so a hal that appears 4 s later is followed at once, not ~8 s later."""
    from llmos.compositor.input import follow_hal

    socket_path = tmp_path / "hal.sock"
    handled: list[dict] = []

    class Router:
        class server:  # stands for the compositor the router flushes
            @staticmethod
            def flush() -> None: ...

        def handle(self, event: dict) -> None:
            handled.append(event)

    async def hal(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()  # the subscribe request
        writer.write(b'{"event": "input", "data": {"type": 1, "code": 30, "value": 1}}\n')
        await writer.drain()

    async def scenario() -> float:
        stop = asyncio.Event()
        follower = asyncio.create_task(follow_hal(Router(), socket_path, stop))  # type: ignore[arg-type]
        await asyncio.sleep(4.0)  # hal is "loading": the follower backs off meanwhile
        server = await asyncio.start_unix_server(hal, str(socket_path))
        appeared = asyncio.get_running_loop().time()
        while not handled:
            await asyncio.sleep(0.02)
        took = asyncio.get_running_loop().time() - appeared
        stop.set()
        follower.cancel()  # it waits on hal's next line
        server.close()
        return took

    took = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert handled == [{"type": 1, "code": 30, "value": 1}]
    assert took < 1.5, f"input arrived {took:.2f} s after hal's socket appeared"
