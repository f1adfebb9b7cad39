"""Running registry apps: mint a token for exactly the granted scopes, start an app host through the
sandbox's AppManager, and watch it until it exits, so every exit is reported once with a reason
(stopped on request, exited by itself, crashed with the host's last status line or the signal).

With `versions` (kernel/versions), an app runs under its identity, not its code hash: launching a
version makes it the identity's current one, switching the data to its view first (refused: the
launch fails and the running version keeps its data; accepted: other versions of it are stopped)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from llmos.api import RunningApp
from llmos.kernel.caps import Authority
from llmos.kernel.caps.table import reserved
from llmos.kernel.registry import Record
from llmos.kernel.sandbox.manager import AppManager, AppProcess, LaunchError
from llmos.kernel.versions.lineage import identity_for

if TYPE_CHECKING:
    from llmos.kernel.versions import Versions

log = logging.getLogger("llmos.kernel.launcher")

_WINDOW_TITLE = re.compile(r"""ui\.Window\(\s*\{[^{}]*?\btitle\s*:\s*(['"])((?:(?!\1).){1,80})\1""")

# (app, state, reason): state is launched | exited | crashed | stopped
AppEventSink = Callable[["AppInstance", str, str | None], None]
Notice = Callable[[str, str], None]  # (token app id, what the user is told)


def app_title(record: Record) -> str:
    """The name people see: the root Window's literal title, else the prompt's start."""
    found = _WINDOW_TITLE.search(record.generatedCode)
    if found:
        return found.group(2)
    words = record.prompt.split()
    return " ".join(words[:6]) + ("…" if len(words) > 6 else "")


def token_app_id(record: Record) -> str:
    """Without app identities: stable per code hash, so an app keeps its storage across runs (and
    [a-z0-9._-] for Biscuit). 128 bits of the hash: a short prefix could be ground out to share another
    app's storage and uid. An identity's id is made the same way from its first version."""
    return identity_for(record.codeHash)


@dataclass(eq=False)
class AppInstance:
    """One running instance of a saved app, as the launcher keeps it: its token, grants and host
    process. What the API shows of it is `row()`."""

    app_id: str            # this instance; unique among running apps
    token_app: str         # the id inside its token (storage, uid, audit)
    hash: str
    title: str
    granted: list[str]
    process: AppProcess
    token: str = field(default="", repr=False)
    started: float = field(default_factory=time.monotonic)
    state: str = "running"
    reason: str | None = None
    stop_requested: bool = False
    headless: bool = False  # started to serve other apps' calls: no window
    exited: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def pid(self) -> int:
        return self.process.pid

    def row(self) -> RunningApp:
        """This instance as apps.running lists it."""
        return RunningApp(self.app_id, self.hash, self.title, self.pid, self.state, tuple(self.granted),
                          round(time.monotonic() - self.started, 3))


class Launcher:
    def __init__(self, manager: AppManager, authority: Authority, on_event: AppEventSink,
                 renderer: Callable[[], str], token_ttl: timedelta = timedelta(days=30),
                 versions: Versions | None = None, on_notice: Notice | None = None) -> None:
        self.manager = manager
        self.versions = versions
        self.on_notice = on_notice
        self.authority = authority
        self.on_event = on_event
        self.renderer = renderer
        self.token_ttl = token_ttl
        self.apps: dict[str, AppInstance] = {}
        self.titles: dict[str, str] = {}  # token app id -> title, known before the host is ready
        self._watchers: set[asyncio.Task[None]] = set()

    def _instance_id(self, base: str) -> str:
        if base not in self.apps:
            return base
        n = 2
        while f"{base}.{n}" in self.apps:
            n += 1
        return f"{base}.{n}"

    async def launch(self, record: Record, granted: list[str], *, headless: bool = False) -> AppInstance:
        """Start `record` with a fresh token for `granted` (a subset of what it declares). `headless`:
        no window, only its functions, for an app started because another app called it."""
        unknown = sorted(set(granted) - set(record.capabilities))
        if unknown:
            raise ValueError(f"{record.short} does not declare {', '.join(unknown)}")
        never = [(scope, why) for scope in sorted(set(granted)) if (why := reserved(scope)) is not None]
        if never:  # the flow never asks for these; an apps.run naming one is refused here too
            raise ValueError("; ".join(f"{scope} can never be granted: {why}" for scope, why in never))
        token_app = token_app_id(record) if self.versions is None else await self._make_current(record)
        self.titles[token_app] = app_title(record)  # an app may notify while it loads
        token = self.authority.mint(token_app, sorted(set(granted)), self.token_ttl)
        self.manager.renderer = self.renderer()
        try:
            process = await self.manager.launch(record.generatedCode, token, filename=f"{record.short}.ts",
                                                renderer="null" if headless else None)
        except BaseException as error:
            self._revoke(token, "the app did not start")
            if isinstance(error, LaunchError):
                raise RuntimeError(f"the app did not start: {error}") from None
            raise
        app = AppInstance(self._instance_id(token_app), token_app, record.codeHash, self.titles[token_app],
                          sorted(set(granted)), process, token, headless=headless)
        self.apps[app.app_id] = app
        log.info("launched %s (%s) pid %d renderer %s scopes %s", app.app_id, app.title, app.pid,
                 "null (headless)" if headless else self.manager.renderer, ",".join(app.granted) or "-")
        self.on_event(app, "launched", None)
        task = asyncio.get_running_loop().create_task(self._watch(app))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)
        return app

    async def _make_current(self, record: Record) -> str:
        """The identity `record` runs under, with its data switched to `record`'s view. A refused
        migration raises MigrationError (a ValueError) before anything is stopped or changed."""
        assert self.versions is not None
        identity = self.versions.check(record.codeHash)
        for other in [a for a in self.instances_of(identity) if a.hash != record.codeHash]:
            await self.stop(other.app_id)  # one version of an app at a time writes its data
        switched = self.versions.switch(identity, record.codeHash, "launched")
        if switched.notice and self.on_notice is not None:
            self.on_notice(identity, switched.notice)
        return identity

    def instances_of(self, identity: str) -> list[AppInstance]:
        return [a for a in self.apps.values() if a.token_app == identity]

    async def _watch(self, app: AppInstance) -> None:
        code, status = await app.process.wait(timeout=None)
        if app.stop_requested:
            state, reason = "stopped", "stopped on request"
        elif code == 0:
            state, reason = "exited", (f"{status['kind']}: {status['message']}" if status else "exited")
        else:
            state = "crashed"
            if status and status.get("kind") not in (None, "signal"):
                reason = f"{status['kind']}: {status.get('message', '')}"
            elif code < 0:
                reason = f"killed by signal {-code}"
            else:
                reason = f"exit code {code}"
        app.state, app.reason = state, reason
        self._revoke(app.token, f"{app.app_id} {state}: {reason}")
        with contextlib.suppress(Exception):
            await app.process.stop()  # closes the control client, cancels its reader and watchdog
        self.manager.running.discard(app.process)
        self.apps.pop(app.app_id, None)
        with contextlib.suppress(FileNotFoundError):
            Path(app.process.control_path).unlink()
        (log.warning if state == "crashed" else log.info)("%s (%s) %s: %s", app.app_id, app.title, state,
                                                          reason)
        app.exited.set()
        self.on_event(app, state, reason)

    async def stop(self, app_id: str, timeout: float = 5.0) -> AppInstance:
        app = self.apps.get(app_id)
        if app is None:
            raise KeyError(app_id)
        app.stop_requested = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(app.process.call("stop", reason="stopped by the user"), timeout)
        try:
            await asyncio.wait_for(app.exited.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(app.pid, 9)
            await app.exited.wait()
        return app

    def _revoke(self, token: str, reason: str) -> None:
        """A token dies with its host: nothing that copied it (a leaked fd, a core) can use it later."""
        try:
            self.authority.revoke(token, reason)
        except Exception as error:
            log.warning("could not revoke a finished app's token: %s", error)

    def by_token_app(self, token_app: str) -> AppInstance | None:
        return next((a for a in self.apps.values() if a.token_app == token_app), None)

    async def stop_all(self) -> None:
        for app_id in list(self.apps):
            with contextlib.suppress(KeyError):
                await self.stop(app_id)
        for task in list(self._watchers):
            task.cancel()
