"""Run apps headlessly for tests, example checks and benchmarks: the real kernel side in this process
(capability authority, broker, storage, on a Unix socket), real app host processes started by the
AppManager, and an AppDriver (llmos.sdk.render.driver) on each app's control socket, so an app is
launched, painted and used exactly as in a window, only without a compositor.

    async with HeadlessKernel() as kernel:
        app = await kernel.launch(source, ["ui:window", "storage:local"], app_id="tip")
        await app.driver.type("bill", "84")
        ...
        app = await kernel.relaunch(app)   # same app id: same storage, as after a reboot

An app `install`ed here is started headless when another app calls one of its functions and it is not
running, as the kernel service starts a saved, approved app (docs/composition.md).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llmos.ipc import Server
from llmos.kernel.caps import Authority, open_authority
from llmos.kernel.sandbox.broker import Broker
from llmos.kernel.sandbox.limits import GuestLimits
from llmos.kernel.sandbox.manager import AppManager, AppProcess, LaunchError
from llmos.kernel.sandbox.storage import AppStorage
from llmos.sdk.render.driver import AppDriver

__all__ = ["SCRIPTED", "HeadlessApp", "HeadlessKernel", "LaunchError"]

# The limits for apps whose clock a script fast-forwards (AppDriver.step_ms: a one-minute countdown in
# 60 quick steps): minutes of timer work run in seconds of real time, so the per-second CPU budget,
# which is about real time, is lifted. Every other limit (deadlines, memory, tree size) holds.
SCRIPTED = replace(GuestLimits(), cpu_ms_per_s=10_000)
ZYGOTE_WAIT_S = 60.0  # for the zygote's imports on a slow machine; launches spawn hosts if it is not up


@dataclass(eq=False)
class HeadlessApp:
    app_id: str
    source: str
    scopes: tuple[str, ...]
    process: AppProcess
    driver: AppDriver
    test_clock: bool
    token: str = field(default="", repr=False)

    async def stop(self) -> int:
        """Stop the host (killed if it does not stop in time); returns its exit code."""
        with contextlib.suppress(Exception):
            await self.driver.close()
        return await self.process.stop()


class HeadlessKernel:
    def __init__(self, root: Path | None = None, *, limits: GuestLimits | None = None,
                 wasm_cache: Path | None = None, confine: bool = True, quota_bytes: int = 256 * 1024,
                 prefork: bool = True) -> None:
        # Unix socket paths are limited to 108 bytes, so the default root is a short temp dir.
        self._own_root = root is None
        self.root = root or Path(tempfile.mkdtemp(prefix="llh"))
        self.limits = limits
        self.wasm_cache = wasm_cache
        self.confine = confine
        self.quota_bytes = quota_bytes
        self.prefork = prefork
        self.authority: Authority | None = None
        self.broker: Broker | None = None
        self.manager: AppManager | None = None
        self._server: Server | None = None
        self.installed: dict[str, tuple[str, tuple[str, ...]]] = {}  # app id -> (source, scopes)
        self.started: list[HeadlessApp] = []  # apps started because another app called them

    def install(self, app_id: str, source: str, scopes: Iterable[str]) -> None:
        """An app the kernel may start (headless, with these grants) when another app calls it."""
        self.installed[app_id] = (source, tuple(sorted(set(scopes))))

    async def _start_called(self, app_id: str) -> None:
        """The composer's starter: no window, the real clock, just the app's functions."""
        if app_id not in self.installed:
            raise LookupError(f"{app_id} is not installed")
        source, scopes = self.installed[app_id]
        self.started.append(await self.launch(source, scopes, app_id=app_id, test_clock=False))

    async def __aenter__(self) -> HeadlessKernel:
        state = self.root / "state"
        self.authority = open_authority(state)
        self.broker = Broker(self.authority, AppStorage(state / "apps", quota_bytes=self.quota_bytes))
        self.broker.compose.starter = self._start_called
        self._server = Server({**self.broker.handlers(), **self.broker.admin_handlers()}, mode=0o666)
        socket = self.root / "kernel.sock"
        await self._server.start(socket)
        os.chmod(self.root, 0o755)  # a confined host (another uid) keeps its open fds; it needs no more
        self.manager = AppManager(socket, limits=self.limits, cache_dir=self.wasm_cache,
                                  run_dir=self.root / "apps", confine=self.confine,
                                  uid_table=state / "sandbox" / "uids.json", prefork=self.prefork)
        if self.manager.prefork is not None:  # hosts fork from a zygote once it is up (spawned until then)
            await self.manager.warm()
            await self.manager.prefork.until_ready(ZYGOTE_WAIT_S)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self.broker is not None:
            await self.broker.compose.close()
        if self.manager is not None:
            await self.manager.stop_all()
        if self._server is not None:
            await self._server.close()
        if self.authority is not None:
            self.authority.audit.close()
            self.authority.revocations.close()
        if self.broker is not None:
            self.broker.storage.close()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    async def launch(self, source: str, scopes: Iterable[str], *, app_id: str, test_clock: bool = True,
                     ready_timeout: float = 30.0, filename: str = "app.ts") -> HeadlessApp:
        """Mint a token for exactly `scopes`, start an app host and attach a driver to it. Raises
        LaunchError (with the host's reason) when the app does not start."""
        assert self.authority is not None and self.manager is not None, "use 'async with HeadlessKernel()'"
        granted = tuple(sorted(set(scopes)))
        token = self.authority.mint(app_id, list(granted))
        process = await self.manager.launch(source, token, filename=filename, test_clock=test_clock,
                                            ready_timeout=ready_timeout)
        try:
            driver = await AppDriver.connect(process.control_path, test_clock=test_clock)
        except BaseException:
            await process.stop()
            raise
        return HeadlessApp(app_id, source, granted, process, driver, test_clock, token)

    async def relaunch(self, app: HeadlessApp) -> HeadlessApp:
        """Stop `app` and start the same code under the same id: what it stored is still there."""
        await app.stop()
        if self.manager is not None:
            self.manager.running.discard(app.process)
        return await self.launch(app.source, app.scopes, app_id=app.app_id, test_clock=app.test_clock)
