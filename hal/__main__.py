"""`python3 -m llmos.hal`: run the hal service until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from llmos.hal.service import Hal


async def main() -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    hal = Hal()
    try:
        await hal.start()
        await stop.wait()
    finally:
        await hal.close()
    return 0


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="hal: %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pyroute2").setLevel(logging.WARNING)
    sys.exit(asyncio.run(main()))
