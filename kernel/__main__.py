"""`python3 -m llmos.kernel`: the kernel service (see kernel/service.py). Ready when
paths.socket_path("kernel") accepts; SIGTERM stops it cleanly (apps stopped, sockets removed)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from llmos.kernel.service import serve

log = logging.getLogger("llmos.kernel")


async def main() -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(stop)
    return 0


def run() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format=f"kernel[{os.getpid()}] %(name)s: %(message)s")
    try:
        return asyncio.run(main())
    except Exception:
        log.exception("kernel failed")
        return 1


if __name__ == "__main__":
    sys.exit(run())
