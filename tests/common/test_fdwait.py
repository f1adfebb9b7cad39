"""fdwait.readable: returns once a descriptor is readable, and leaves no reader on the loop."""

from __future__ import annotations

import asyncio
import os

from llmos.fdwait import readable


def test_waits_for_data_and_unregisters():
    async def scenario() -> None:
        read, write = os.pipe()
        try:
            waiting = asyncio.create_task(readable(read))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            os.write(write, b"x")
            await asyncio.wait_for(waiting, 5)
            assert not asyncio.get_running_loop().remove_reader(read)  # nothing left registered
            await asyncio.wait_for(readable(read), 5)  # still readable: returns at once
        finally:
            os.close(read)
            os.close(write)

    asyncio.run(scenario())


def test_a_closed_writer_makes_it_readable_and_cancelling_unregisters():
    async def scenario() -> None:
        read, write = os.pipe()
        waiting = asyncio.create_task(readable(read))
        await asyncio.sleep(0)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        assert not asyncio.get_running_loop().remove_reader(read)
        os.close(write)
        await asyncio.wait_for(readable(read), 5)
        os.close(read)

    asyncio.run(scenario())
