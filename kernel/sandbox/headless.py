"""Run apps headlessly for tests, example checks and benchmarks: the real kernel side in this process
(capability authority, broker, storage, on a Unix socket), real app host processes started by the
AppManager, and an AppDriver (llmos.sdk.render.driver) on each app's control socket, so an app is
launched, painted and used exactly as in a window, only without a compositor.

    async with HeadlessKernel() as kernel:
        app = await kernel.launch(source, ["ui:window", "storage:local"], app_id="tip")
        await app.driver.type("bill", "84")
        ...
        app = await kernel.relaunch(app)   # same app id: same storage, as after a reboot
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmos.ipc import Server
from llmos.kernel.caps import Authority, open_authority
from llmos.kernel.sandbox.broker import Broker
from llmos.kernel.sandbox.guest import GuestLimits
from llmos.kernel.sandbox.manager import AppManager, AppProcess, LaunchError
from llmos.kernel.sandbox.storage import AppStorage
from llmos.sdk.render.driver import AppDriver

__all__ = ["HeadlessApp", "HeadlessKernel", "LaunchError"]


@dataclass(eq=False)
class HeadlessApp:
    app_id: str
    source: str
    scopes: tuple[str, ...]
    process: AppProcess
    driver: AppDriver
    test_clock: bool

    async def stop(self) -> int:
        """Stop the host (killed if it does not stop in time); returns its exit code."""
        with contextlib.suppress(Exception):
            await self.driver.close()
        return await self.process.stop()


class HeadlessKernel:
    def __init__(self, root: Path | None = None, *, limits: GuestLimits | None = None,
                 wasm_cache: Path | None = None, confine: bool = True, quota_bytes: int = 256 * 1024) -> None:
        # Unix socket paths are limited to 108 bytes, so the default root is a short temp dir.
        self._own_root = root is None
        self.root = root or Path(tempfile.mkdtemp(prefix="llh"))
        self.limits = limits
        self.wasm_cache = wasm_cache
        self.confine = confine
        self.quota_bytes = quota_bytes
        self.authority: Authority | None = None
        self.broker: Broker | None = None
        self.manager: AppManager | None = None
        self._server: Server | None = None

    async def __aenter__(self) -> HeadlessKernel:
        state = self.root / "state"
        self.authority = open_authority(state)
        self.broker = Broker(self.authority, AppStorage(state / "apps", quota_bytes=self.quota_bytes))
        self._server = Server({**self.broker.handlers(), **self.broker.admin_handlers()}, mode=0o666)
        socket = self.root / "kernel.sock"
        await self._server.start(socket)
        os.chmod(self.root, 0o755)  # a confined host (another uid) keeps its open fds; it needs no more
        self.manager = AppManager(socket, limits=self.limits, cache_dir=self.wasm_cache,
                                  run_dir=self.root / "apps", confine=self.confine,
                                  uid_table=state / "sandbox" / "uids.json")
        return self

    async def __aexit__(self, *exc: Any) -> None:
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
        return HeadlessApp(app_id, source, granted, process, driver, test_clock)

    async def relaunch(self, app: HeadlessApp) -> HeadlessApp:
        """Stop `app` and start the same code under the same id: what it stored is still there."""
        await app.stop()
        if self.manager is not None:
            self.manager.running.discard(app.process)
        return await self.launch(app.source, app.scopes, app_id=app.app_id, test_clock=app.test_clock)
