"""kernel/busypoll.py: the kernel's selector polls only while its events come close together, sleeps
at once when idle, and serves a real exchange as the kernel's loop."""

from __future__ import annotations

import asyncio
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmos.ipc import Server
from llmos.kernel import busypoll
from llmos.kernel.sandbox.syncrpc import SyncClient


@pytest.fixture
def pair() -> Iterator[tuple[busypoll.BusyPollSelector, socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    selector = busypoll.BusyPollSelector()
    selector.register(ours, selectors.EVENT_READ)
    yield selector, ours, theirs
    selector.close()
    ours.close()
    theirs.close()


def test_an_idle_selector_sleeps_without_polling(pair: tuple[busypoll.BusyPollSelector, socket.socket,
                                                              socket.socket]) -> None:
    selector, _, _ = pair
    cpu = time.process_time()
    assert selector.select(0.1) == []
    assert time.process_time() - cpu < 0.02  # slept, did not spin
    assert not selector.polling


def test_close_events_turn_polling_on_and_a_long_gap_turns_it_off(
        pair: tuple[busypoll.BusyPollSelector, socket.socket, socket.socket],
        monkeypatch: pytest.MonkeyPatch) -> None:
    selector, ours, theirs = pair
    waits: list[float | None] = []
    plain = selectors.EpollSelector.select

    def recorded(self: selectors.EpollSelector, timeout: float | None = None) -> list:
        waits.append(timeout)
        return plain(self, timeout)

    monkeypatch.setattr(selectors.EpollSelector, "select", recorded)
    theirs.send(b"x")
    assert len(selector.select(1.0)) == 1  # an event at once: a short gap
    assert selector.polling and waits == [1.0]
    ours.recv(1)
    theirs.send(b"y")
    waits.clear()
    assert len(selector.select(1.0)) == 1
    assert waits == [0]  # caught by the first poll, without sleeping
    assert selector.polling
    ours.recv(1)
    waits.clear()
    cpu = time.process_time()
    assert selector.select(0.05) == []  # nothing comes: it polls for the window, then sleeps
    assert 0 in waits and waits[-1] is not None and 0.04 < waits[-1] < 0.05
    assert time.process_time() - cpu < 0.02
    assert not selector.polling  # a long gap: the next wait sleeps at once
    waits.clear()
    assert selector.select(0.01) == []
    assert waits == [0.01]


def test_the_kernel_loop_answers_a_run_of_calls(tmp_path: Path) -> None:
    """An app host's calls in a run against the kernel's own loop: every call answered in order, and
    the loop polls during the run."""
    path = tmp_path / "kernel.sock"
    seen: list[int] = []
    polling: list[bool] = []

    async def echo(_connection: object, params: dict) -> int:
        seen.append(params["n"])
        polling.append(asyncio.get_running_loop()._selector.polling)  # type: ignore[attr-defined]
        return int(params["n"]) * 2

    async def serve(started: threading.Event, stop: asyncio.Event) -> None:
        server = Server({"echo": echo})
        await server.start(path)
        started.set()
        await stop.wait()
        await server.close()

    def kernel_loop() -> asyncio.AbstractEventLoop:
        # the kernel's loop with a 5 ms window instead of 0.2 ms: the client is a thread of this process,
        # so on a loaded machine the GIL and the scheduler, not the calls, would decide the gaps
        return asyncio.SelectorEventLoop(busypoll.BusyPollSelector(window=0.005))

    started, results = threading.Event(), []
    with asyncio.Runner(loop_factory=kernel_loop) as runner:
        stop = asyncio.Event()

        def client() -> None:
            started.wait(10)
            calls = SyncClient(path)
            results.extend(calls.call("echo", n=n) for n in range(200))
            calls.close()
            runner.get_loop().call_soon_threadsafe(stop.set)

        thread = threading.Thread(target=client)
        thread.start()
        runner.run(serve(started, stop))
        thread.join(10)
    assert results == [n * 2 for n in range(200)] and seen == list(range(200))
    assert sum(polling) > 150  # the calls of the run found the loop polling
