"""The service's side of `awaits`: the one line PID 1 writes on $LLMOS_AWAIT_FD, read on the loop."""

from __future__ import annotations

import asyncio
import os

import pytest

from llmos.init.awaited import FD_ENV, AwaitError, await_pipe, awaited


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


def test_not_ready_names_what_and_why(monkeypatch):
    write = _pipe(monkeypatch)
    os.write(write, b"not ready: udev-coldplug failed: gave up after 5 failures\n")
    with pytest.raises(AwaitError, match="udev-coldplug failed: gave up after 5 failures"):
        asyncio.run(awaited(5))
    os.close(write)


def test_a_pipe_closed_unsaid_is_an_error(monkeypatch):
    os.close(_pipe(monkeypatch))
    with pytest.raises(AwaitError, match="closed the await pipe without an answer"):
        asyncio.run(awaited(5))


def test_silence_times_out(monkeypatch):
    write = _pipe(monkeypatch)
    with pytest.raises(AwaitError, match=r"after 0\.05 s"):
        asyncio.run(awaited(0.05))
    os.close(write)


@pytest.mark.parametrize("value", ["seven", "9999"])
def test_a_bad_descriptor_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv(FD_ENV, value)
    with pytest.raises(AwaitError, match=f"{FD_ENV}='{value}' is not an open descriptor"):
        asyncio.run(awaited(1))


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
