"""The service's side of `awaits`: the one line PID 1 writes on $LLMOS_AWAIT_FD, read on the loop or,
before a service has one, blocking."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable

import pytest

from llmos.init.awaited import FD_ENV, AwaitError, await_pipe, awaited, awaited_blocking

# Both ways to wait, for the tests of what they answer.
WAYS: dict[str, Callable[[float], None]] = {"on the loop": lambda timeout: asyncio.run(awaited(timeout)),
                                            "blocking": awaited_blocking}


def _pipe(monkeypatch: pytest.MonkeyPatch) -> int:
    read, write = os.pipe()
    monkeypatch.setenv(FD_ENV, str(read))
    return write


def test_without_the_variable_there_is_nothing_to_wait_for(monkeypatch):
    monkeypatch.delenv(FD_ENV, raising=False)
    asyncio.run(asyncio.wait_for(awaited(0.01), 1))


def test_ready_returns_and_closes_the_descriptor(monkeypatch):
    write = _pipe(monkeypatch)
    read = int(os.environ[FD_ENV])

    async def answer_later() -> None:
        waiting = asyncio.create_task(awaited(5))
        await asyncio.sleep(0)  # the reader is registered before the answer is written
        assert not waiting.done()
        os.write(write, b"rea")
        os.write(write, b"dy\n")
        await waiting

    asyncio.run(answer_later())
    os.close(write)
    with pytest.raises(OSError):
        os.fstat(read)
    assert FD_ENV not in os.environ  # not passed on to what the service starts


@pytest.mark.parametrize("way", WAYS)
def test_not_ready_names_what_and_why(monkeypatch, way):
    write = _pipe(monkeypatch)
    os.write(write, b"not ready: udev-coldplug failed: gave up after 5 failures\n")
    with pytest.raises(AwaitError, match="udev-coldplug failed: gave up after 5 failures"):
        WAYS[way](5)
    os.close(write)


@pytest.mark.parametrize("way", WAYS)
def test_a_pipe_closed_unsaid_is_an_error(monkeypatch, way):
    os.close(_pipe(monkeypatch))
    with pytest.raises(AwaitError, match="closed the await pipe without an answer"):
        WAYS[way](5)


@pytest.mark.parametrize("way", WAYS)
def test_silence_times_out(monkeypatch, way):
    write = _pipe(monkeypatch)
    with pytest.raises(AwaitError, match=r"after 0\.05 s"):
        WAYS[way](0.05)
    os.close(write)


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("value", ["seven", "9999"])
def test_a_bad_descriptor_is_a_clear_error(monkeypatch, value, way):
    monkeypatch.setenv(FD_ENV, value)
    with pytest.raises(AwaitError, match=f"{FD_ENV}='{value}' is not an open descriptor"):
        WAYS[way](1)


def test_the_pipe_taken_early_is_awaited_later(monkeypatch):
    """The kernel takes the variable before it starts its zygote, and awaits the pipe much later."""
    write = _pipe(monkeypatch)
    pipe = await_pipe()
    assert FD_ENV not in os.environ and pipe

    async def answer() -> None:
        waiting = asyncio.create_task(awaited(5, pipe))
        await asyncio.sleep(0)
        os.write(write, b"not ready: compositor failed: exit 1\n")
        with pytest.raises(AwaitError, match="compositor failed"):
            await waiting

    asyncio.run(answer())
    os.close(write)


def test_blocking_returns_once_the_line_is_whole(monkeypatch):
    """The compositor waits so, before it has a loop: the line may come in pieces, while it waits."""
    write = _pipe(monkeypatch)
    read = int(os.environ[FD_ENV])
    waiting = threading.Thread(target=awaited_blocking, args=(10,))
    waiting.start()
    os.write(write, b"rea")
    waiting.join(0.2)
    assert waiting.is_alive()  # half a line is no answer
    os.write(write, b"dy\n")
    waiting.join(10)
    assert not waiting.is_alive()
    os.close(write)
    with pytest.raises(OSError):
        os.fstat(read)
    monkeypatch.delenv(FD_ENV, raising=False)
    awaited_blocking(0.01)  # nothing to wait for outside PID 1
