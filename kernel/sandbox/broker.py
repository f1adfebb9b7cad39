"""The kernel side of every privileged app call. Each call carries the app's token; the broker asks
the authority for the cheap per-call check (expiry, revocation, scope) before doing anything, and the
authority audits the decision. The app's identity is the one inside its verified token, never a
parameter, so an app can only reach its own storage.

Mount into the kernel's llmos.ipc.Server with `server.handlers.update(broker.handlers())`; the
`caps.*` admin handlers (`admin_handlers()`) answer only peers whose uid may administer the kernel.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from llmos.ipc import Connection, ErrorCode, Handler, RpcError
from llmos.kernel.caps import Authority, Denied
from llmos.kernel.caps.authority import utcnow
from llmos.kernel.sandbox.bus import Bus, Subscriber
from llmos.kernel.sandbox.storage import AppStorage, QuotaExceeded, check_key

log = logging.getLogger("llmos.sandbox.broker")

Notify = Callable[[str, str, dict[str, Any]], None]


class Broker:
    MAX_FETCH_BYTES = 1024 * 1024
    DELIVER_TIMEOUT = 1.0  # seconds one bus delivery may take before that subscriber is dropped

    def __init__(self, authority: Authority, storage: AppStorage, bus: Bus | None = None,
                 http: httpx.AsyncClient | None = None, on_notify: Notify | None = None,
                 admin_uids: frozenset[int] | None = None) -> None:
        self.authority = authority
        self.storage = storage
        self.bus = bus or Bus()
        self.http = http
        self.on_notify = on_notify
        self.notifications: deque[tuple[str, str, dict[str, Any]]] = deque(maxlen=100)
        self.clipboard = ""
        self.watchers: dict[Connection, str] = {}  # app host connections -> their token
        self.admin_uids = admin_uids if admin_uids is not None else frozenset({0, os.geteuid()})

    def _check(self, token: str, scope: str, what: str) -> str:
        return self.authority.check(token, scope, what).app_id

    # -- app calls -----------------------------------------------------------------------------
    async def describe(self, token: str) -> dict[str, Any]:
        """Full verification at launch: what the host may register for this app."""
        grant = self.authority.verify(token, now=utcnow())
        self.authority.audit.record(grant.app_id, "app.launch", "allow", ",".join(sorted(grant.scopes)))
        return {"app": grant.app_id, "scopes": sorted(grant.scopes), "expires": grant.expires.isoformat()}

    async def storage_get(self, token: str, key: str) -> str | None:
        app = self._check(token, "storage:local", f"storage.get {check_key(key)}")
        return self.storage.get(app, key)

    async def storage_set(self, token: str, key: str, value: str) -> None:
        app = self._check(token, "storage:local", f"storage.set {check_key(key)}")
        try:
            self.storage.set(app, key, value)
        except QuotaExceeded as error:
            self.authority.audit.record(app, f"storage.set {key}", "deny", f"quota: {error}")
            raise

    async def storage_delete(self, token: str, key: str) -> None:
        self.storage.delete(self._check(token, "storage:local", f"storage.delete {check_key(key)}"), key)

    async def storage_keys(self, token: str) -> list[str]:
        return self.storage.keys(self._check(token, "storage:local", "storage.keys"))

    async def net_fetch(self, token: str, url: str, method: str = "GET",
                        headers: dict[str, str] | None = None, body: str | None = None) -> dict[str, Any]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"net.fetch: {url!r} is not an http(s) URL")
        host = parts.hostname.lower()
        # An explicit port must be granted explicitly (network:host:port).
        scope = f"network:{host}:{parts.port}" if parts.port else f"network:{host}"
        what = f"net.fetch {method.upper()} {url}"
        grant = self.authority.check(token, scope, what, audit_allow=False)
        self.authority.audit.record(grant.app_id, what, "allow", scope)
        client = self.http or httpx.AsyncClient(timeout=15.0)
        try:
            # No redirects: a 3xx to another host must not escape the grant.
            async with client.stream(method.upper(), url, headers=headers or {}, content=body,
                                     follow_redirects=False) as response:
                data = b""
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > self.MAX_FETCH_BYTES:
                        raise ValueError(f"net.fetch: response over {self.MAX_FETCH_BYTES} bytes")
                return {"status": response.status_code, "headers": dict(response.headers),
                        "body": data.decode(response.encoding or "utf-8", errors="replace")}
        finally:
            if self.http is None:
                await client.aclose()

    async def clipboard_read(self, token: str) -> str:
        self._check(token, "clipboard:read", "clipboard.read")
        return self.clipboard

    async def clipboard_write(self, token: str, text: str) -> None:
        self._check(token, "clipboard:write", "clipboard.write")
        self.clipboard = str(text)

    async def notify(self, token: str, text: str, options: dict[str, Any] | None = None) -> None:
        app = self._check(token, "notify", "ui.notify")
        entry = (app, str(text)[:500], dict(options or {}))
        self.notifications.append(entry)
        if self.on_notify is not None:
            self.on_notify(*entry)

    async def bus_publish(self, token: str, channel: str, message: str) -> int:
        app = self._check(token, f"bus:{channel}", f"bus.publish {channel}")
        if len(message) > Bus.MAX_MESSAGE:
            raise ValueError(f"bus message over {Bus.MAX_MESSAGE} bytes")
        delivered = 0
        for subscriber in self.bus.subscribers(channel):
            try:
                self.authority.check(subscriber.token, f"bus:{channel}", f"bus.deliver {channel}",
                                     audit_allow=False)
            except Denied:
                self.bus.drop(subscriber)
                continue
            try:  # a stalled or broken subscriber is dropped rather than holding up the publisher
                await asyncio.wait_for(subscriber.deliver(channel, message, app), self.DELIVER_TIMEOUT)
            except (TimeoutError, OSError, ConnectionError) as error:
                log.info("bus: dropped %s's subscription to %s: %r", subscriber.app_id, channel, error)
                self.bus.drop(subscriber)
                continue
            delivered += 1
        return delivered

    async def bus_subscribe(self, token: str, channel: str, deliver: Any, key: object = None,
                            closed: Callable[[], bool] | None = None) -> None:
        app = self._check(token, f"bus:{channel}", f"bus.subscribe {channel}")
        self.bus.subscribe(Subscriber(token, app, deliver, key=key, closed=closed or (lambda: False)),
                           channel)

    async def revoke(self, token: str, reason: str = "") -> list[str]:
        """Revoke, then tell every app host whose token is now dead, so even an app that makes no
        more kernel calls (timers, UI only) stops at once."""
        ids = self.authority.revoke(token, reason)
        for connection, watched in list(self.watchers.items()):
            if connection.writer.is_closing():
                del self.watchers[connection]
                continue
            try:  # a full verification: a token without ui:window must not look "denied" here
                self.authority.verify(watched, now=utcnow())
            except Denied as error:
                if error.code in ("revoked", "expired", "forged"):
                    await connection.push("caps.revoked", {"reason": str(error)})
                    del self.watchers[connection]
        return ids

    async def attenuate(self, token: str, scopes: list[str], ttl_s: float | None = None) -> str:
        ttl = timedelta(seconds=ttl_s) if ttl_s is not None else None
        return self.authority.attenuate(token, scopes, ttl)

    # -- llmos.ipc mounting --------------------------------------------------------------------
    def handlers(self) -> dict[str, Handler]:
        """The app-facing methods. Every one names the token; errors come back as RpcError codes
        'denied' (with the authority's reason) or 'bad-request'."""

        def wrap(method: Callable[..., Any], *names: str) -> Handler:
            async def handler(connection: Connection, params: dict[str, Any]) -> Any:
                token = params.get("token")
                if not isinstance(token, str):
                    raise RpcError(ErrorCode.BAD_REQUEST, "every app call carries its token")
                try:
                    return await method(token, *[params.get(name) for name in names])
                except Denied as error:
                    raise RpcError(ErrorCode.DENIED, str(error)) from None
                except (ValueError, TypeError, QuotaExceeded, httpx.HTTPError) as error:
                    raise RpcError(ErrorCode.BAD_REQUEST, f"{type(error).__name__}: {error}") from None
            return handler

        async def subscribe(connection: Connection, params: dict[str, Any]) -> None:
            async def deliver(channel: str, message: str, sender: str) -> None:
                await connection.push("bus.message", {"channel": channel, "message": message,
                                                      "from": sender})
            token, channel = params.get("token"), params.get("channel")
            if not isinstance(token, str) or not isinstance(channel, str):
                raise RpcError(ErrorCode.BAD_REQUEST, "bus.subscribe needs token and channel")
            try:
                await self.bus_subscribe(token, channel, deliver, key=connection,
                                         closed=connection.writer.is_closing)
            except Denied as error:
                raise RpcError(ErrorCode.DENIED, str(error)) from None

        async def fetch(token: str, url: str, options: str | None) -> dict[str, Any]:
            opts = json.loads(options) if options else {}
            if not isinstance(opts, dict):
                raise ValueError("fetch options are an object")
            return await self.net_fetch(token, url, str(opts.get("method", "GET")), opts.get("headers"),
                                        opts.get("body"))

        async def notify(token: str, text: str, options: str | None) -> None:
            await self.notify(token, text, json.loads(options) if options else {})

        async def watch(connection: Connection, params: dict[str, Any]) -> bool:
            token = params.get("token")
            if not isinstance(token, str):
                raise RpcError(ErrorCode.BAD_REQUEST, "app.watch needs the token")
            try:
                self.authority.verify(token, now=utcnow())
            except Denied as error:
                raise RpcError(ErrorCode.DENIED, str(error)) from None
            self.watchers[connection] = token
            return True

        return {
            "app.describe": wrap(self.describe),
            "app.watch": watch,
            "app.storage.get": wrap(self.storage_get, "key"),
            "app.storage.set": wrap(self.storage_set, "key", "value"),
            "app.storage.delete": wrap(self.storage_delete, "key"),
            "app.storage.keys": wrap(self.storage_keys),
            "app.net.fetch": wrap(fetch, "url", "options"),
            "app.clipboard.read": wrap(self.clipboard_read),
            "app.clipboard.write": wrap(self.clipboard_write, "text"),
            "app.notify": wrap(notify, "text", "options"),
            "app.bus.publish": wrap(self.bus_publish, "channel", "message"),
            "app.bus.subscribe": subscribe,
            "app.caps.attenuate": wrap(self.attenuate, "scopes", "ttl_s"),
        }

    def admin_handlers(self) -> dict[str, Handler]:
        """Minting and revoking: for the shell and CLI (peer uid in admin_uids), never for apps."""

        def admin(fn: Callable[[dict[str, Any]], Any]) -> Handler:
            async def handler(connection: Connection, params: dict[str, Any]) -> Any:
                if connection.peer_uid is not None and connection.peer_uid not in self.admin_uids:
                    raise RpcError(ErrorCode.DENIED,
                                   f"uid {connection.peer_uid} may not administer capabilities")
                try:
                    return fn(params)
                except Denied as error:
                    raise RpcError(ErrorCode.DENIED, str(error)) from None
                except (ValueError, TypeError) as error:
                    raise RpcError(ErrorCode.BAD_REQUEST, str(error)) from None
            return handler

        def admin_async(fn: Callable[[dict[str, Any]], Any]) -> Handler:
            inner = admin(fn)

            async def handler(connection: Connection, params: dict[str, Any]) -> Any:
                try:
                    return await (await inner(connection, params))
                except Denied as error:
                    raise RpcError(ErrorCode.DENIED, str(error)) from None
            return handler

        return {
            "caps.mint": admin(lambda p: self.authority.mint(
                p["app"], list(p.get("scopes") or []), timedelta(seconds=float(p.get("ttl_s", 30 * 86400))))),
            "caps.revoke": admin_async(lambda p: self.revoke(p["token"], str(p.get("reason", "")))),
            "caps.audit": admin(lambda p: [e.__dict__ for e in self.authority.audit.entries(
                app=p.get("app"), decision=p.get("decision"), limit=int(p.get("limit", 100)))]),
        }
