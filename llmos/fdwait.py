"""Waiting on the running loop, without a thread, for a descriptor to become readable: a pipe when
data or its end arrive, a pidfd when its process has ended."""

from __future__ import annotations

import asyncio


async def readable(fd: int) -> None:
    """Until `fd` is readable (level-triggered: it returns at once if it is readable now)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
