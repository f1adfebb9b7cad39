"""Kiosk mode: one registry app, launched at start with its recorded capabilities and relaunched
whenever it exits or crashes, with exponential backoff, forever. The compositor's kiosk window
manager makes it full screen; the kernel only keeps it alive. A kiosk that gave up would leave an
appliance showing an empty screen, so the only way out is a settings change or a shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from llmos.kernel.launcher import AppInstance
from llmos.kernel.registry import Record

log = logging.getLogger("llmos.kernel.kiosk")


@dataclass
class Backoff:
    """Delay before the next restart: doubles per quick failure, resets after a stable run."""

    first: float = 0.5
    most: float = 30.0
    stable_after: float = 60.0
    current: float = 0.0

    def next(self, ran_for: float) -> float:
        if ran_for >= self.stable_after:
            self.current = 0.0
        self.current = self.first if self.current == 0.0 else min(self.most, self.current * 2)
        return self.current


class Kiosk:
    def __init__(self, ref: str, resolve: Callable[[str], Record],
                 launch: Callable[[Record, list[str]], Awaitable[AppInstance]],
                 notify: Callable[[str], None], backoff: Backoff | None = None) -> None:
        self.ref = ref
        self.resolve = resolve
        self.launch = launch
        self.notify = notify
        self.backoff = backoff or Backoff()
        self.restarts = 0
        self.current: AppInstance | None = None
        self.problem: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._keep())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _keep(self) -> None:
        try:
            record = self.resolve(self.ref)
        except Exception as error:  # NotFound, RecordError (tampered), bad ref
            self.problem = f"kiosk app {self.ref!r} cannot be run: {error}"
            log.error("%s; serving without a kiosk app", self.problem)
            self.notify(self.problem)
            return
        while True:
            started = time.monotonic()
            try:
                self.current = await self.launch(record, list(record.capabilities))
                self.problem = None
                await self.current.exited.wait()
                outcome = f"{self.current.state}: {self.current.reason}"
            except asyncio.CancelledError:
                raise
            except Exception as error:
                outcome = f"did not start: {error}"
                self.problem = outcome
            delay = self.backoff.next(time.monotonic() - started)
            self.restarts += 1
            log.warning("kiosk app %s %s; restart %d in %.1f s", record.short, outcome, self.restarts, delay)
            await asyncio.sleep(delay)
