"""`python3 -m llmos.compositor`: the Wayland compositor service.

It opens the display and paints the shell's first screen before it loads the Wayland server's code
(compositor/first_screen.py), then serves."""

from __future__ import annotations

from llmos.compositor import startup

startup.skip_unused_imports()  # before anything imports asyncio or cairocffi

import sys  # noqa: E402
import time  # noqa: E402

from llmos.compositor import first_screen  # noqa: E402
from llmos.compositor import settings as compositor_settings  # noqa: E402
from llmos.compositor.outputs import OutputError, open_output  # noqa: E402
from llmos.init.awaited import AwaitError, awaited_blocking  # noqa: E402

# How long the display may wait for its drivers (services.py: the compositor awaits udev-display).
# PID 1 answers when that settles, within a minute per display controller; this only bounds a PID 1
# that never does.
COLDPLUG_WAIT_S = 150.0


def main() -> int:
    settings, display, problems = compositor_settings.load()
    for problem in problems:
        print(f"compositor: config: {problem}", file=sys.stderr)
    loaded = time.clock_gettime(time.CLOCK_BOOTTIME)  # the clock of PID 1's markers
    try:
        awaited_blocking(COLDPLUG_WAIT_S)
    except AwaitError as error:
        print(f"compositor: opening the display without waiting for its drivers: {error}",
              file=sys.stderr)
    # Which one the display waited for, at boot: the first screen's code, or its drivers.
    print(f"compositor: code loaded t={loaded:.3f}, display drivers "
          f"t={time.clock_gettime(time.CLOCK_BOOTTIME):.3f}", file=sys.stderr)
    try:
        output = open_output(display["backend"], display["rotation"], display["size"], display["device"],
                             log=lambda line: print(line, file=sys.stderr))
    except OutputError as error:
        print(f"compositor: no output: {error}", file=sys.stderr)
        return 1
    try:
        problem = first_screen.paint(settings, output)
    except Exception as error:  # an early picture is not worth the display: serve anyway
        problem = f"{type(error).__name__}: {error}"
    if problem:
        print(f"compositor: first screen: {problem}", file=sys.stderr)
    # Only now: the point of the first screen.
    import logging

    startup.defer_scanner()
    from llmos.compositor.server import serve

    logging.basicConfig(level=logging.INFO, format="compositor: %(message)s", stream=sys.stderr)
    return serve(settings, output)


if __name__ == "__main__":
    sys.exit(main())
