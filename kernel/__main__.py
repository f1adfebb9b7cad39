"""`python3 -m llmos.kernel`: the kernel service (see kernel/service.py). Ready when
paths.socket_path("kernel") accepts; SIGTERM stops it cleanly (apps stopped, sockets removed)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from llmos import config, paths
from llmos.init.awaited import await_pipe
from llmos.kernel import busypoll, display
from llmos.kernel.sandbox.prefork import Prefork, zygote_for

log = logging.getLogger("llmos.kernel")


def start_zygote(cfg: config.Config) -> Prefork | None:
    """The app hosts' zygote, started before the kernel's own imports, so that it loads beside them
    (seconds each under emulation) and the first app after boot forks instead of waiting for it.
    It preloads the window's modules whenever windows are asked for: the compositor's socket may not
    be there yet (a compositor that failed and is restarting)."""
    sandbox = cfg.settings.sandbox
    if not sandbox.prefork:
        return None
    run_dir, cache = paths.apps_run_dir(), paths.quickjs_cache_dir()
    for directory in (run_dir, cache):
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if sandbox.renderer == "wayland":
        display.expect_wayland(cfg)
    zygote = zygote_for(run_dir, cache, sandbox.renderer)
    zygote.start()
    return zygote


async def main() -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    display_pipe = await_pipe()  # PID 1's word on the compositor (services.py), read once it matters
    cfg = config.load()
    zygote = start_zygote(cfg)
    await asyncio.sleep(0)  # the zygote's task runs now, so its process starts before the imports
    from llmos.kernel.service import serve  # the kernel's own imports: the zygote loads meanwhile

    await serve(stop, cfg, zygote, display_pipe)
    return 0


def run() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format=f"kernel[{os.getpid()}] %(name)s: %(message)s")
    try:
        with asyncio.Runner(loop_factory=busypoll.event_loop) as runner:  # polls while apps call in runs
            return runner.run(main())
    except Exception:
        log.exception("kernel failed")
        return 1


if __name__ == "__main__":
    sys.exit(run())
