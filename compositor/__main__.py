"""`python3 -m llmos.compositor`: the Wayland compositor service."""

from __future__ import annotations

from llmos.compositor import startup

startup.skip_unused_imports()  # before anything imports asyncio or pywayland

import asyncio  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from llmos.compositor import settings as compositor_settings  # noqa: E402
from llmos.compositor.outputs import OutputError, open_output  # noqa: E402
from llmos.init.awaited import AwaitError, awaited  # noqa: E402

# How long the display may wait for its drivers (services.py: the compositor awaits udev-display).
# PID 1 answers when that settles, within a minute per display controller; this only bounds a PID 1
# that never does.
COLDPLUG_WAIT_S = 150.0


async def serve() -> int:
    settings, display, problems = compositor_settings.load()
    for problem in problems:
        print(f"compositor: config: {problem}", file=sys.stderr)
    # Imported before the display is opened: under TCG this is seconds that udev loads drivers beside.
    from llmos.compositor.server import Compositor

    loaded = time.clock_gettime(time.CLOCK_BOOTTIME)  # the clock of PID 1's markers
    try:
        await awaited(COLDPLUG_WAIT_S)
    except AwaitError as error:
        print(f"compositor: opening the display without waiting for its drivers: {error}",
              file=sys.stderr)
    # Which one the display waited for, at boot: its code, or its drivers.
    print(f"compositor: code loaded t={loaded:.3f}, display drivers "
          f"t={time.clock_gettime(time.CLOCK_BOOTTIME):.3f}", file=sys.stderr)
    try:
        output = open_output(display["backend"], display["rotation"], display["size"], display["device"],
                             log=lambda line: print(line, file=sys.stderr))
    except OutputError as error:
        print(f"compositor: no output: {error}", file=sys.stderr)
        return 1
    compositor = Compositor(settings, output)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await compositor.run(stop)
    return 0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="compositor: %(message)s", stream=sys.stderr)
    return asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(main())
