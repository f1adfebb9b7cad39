"""The kernel side of every privileged app call. Each call carries the app's token; the broker asks
the authority for the cheap per-call check (expiry, revocation, scope) before doing anything, and the
authority audits the decision. The app's identity is the one inside its verified token, never a
parameter, so an app can only reach its own storage.

The socket edge is declared with `@rpc` like every service: `AppCalls` (the app.* methods, served on
kernel-apps.sock via `broker.handlers()`) and `CapsAdmin` (the caps.* methods, on kernel.sock via
`broker.admin_handlers()`, answering only peers whose uid may administer the kernel).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from llmos import ipc
from llmos.ipc import Connection, ErrorCode, Handler, RpcError, rpc
from llmos.kernel.caps import Authority, Denied
from llmos.kernel.caps.authority import utcnow
from llmos.kernel.sandbox import notify as notify_rules
from llmos.kernel.sandbox.bus import Bus, Subscriber
from llmos.kernel.sandbox.compose import ComposeCalls, Composer
from llmos.kernel.sandbox.netcheck import AddressRefused, Resolver, checked_address, system_resolver
from llmos.kernel.sandbox.storage import AppStorage, QuotaExceeded, check_key

if TYPE_CHECKING:
    import httpx  # imported by net_fetch: ~15 ms of every kernel start otherwise (seconds under TCG)

log = logging.getLogger("llmos.sandbox.broker")

Notify = Callable[[str, str, dict[str, Any]], None]


class FetchFailed(Exception):
    """net.fetch's request failed on the way (httpx's error, named as httpx names it)."""


class Broker:
    MAX_FETCH_BYTES = 1024 * 1024
    DELIVER_TIMEOUT = 1.0  # seconds one bus delivery may take before that subscriber is dropped

    def __init__(self, authority: Authority, storage: AppStorage, bus: Bus | None = None,
                 http: httpx.AsyncClient | None = None, on_notify: Notify | None = None,
                 admin_uids: frozenset[int] | None = None, resolve: Resolver = system_resolver) -> None:
        self.authority = authority
        self.storage = storage
        self.bus = bus or Bus()
        self.http = http
        self.on_notify = on_notify
        self.notifications: deque[tuple[str, str, dict[str, Any]]] = deque(maxlen=100)
        self.clipboard = ""
        self.watchers: dict[Connection, str] = {}  # app host connections -> their token
        self._forgetting: dict[Connection, asyncio.Task[None]] = {}
        self.admin_uids = admin_uids if admin_uids is not None else frozenset({0, os.geteuid()})
        self.resolve = resolve  # names to addresses for net.fetch (a seam for tests)
        self.compose = Composer(authority)  # calls between apps (compose.py); the kernel sets its starter

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
        # The name was checked; now the address: resolved once, never this machine, the local network
        # or a metadata service unless the grant names that address exactly (netcheck.py).
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            address = await checked_address(host, port, exact_grant=scope in grant.scopes,
                                            resolve=self.resolve)
        except AddressRefused as error:
            refusal = Denied("address", f"{what}: {error}", grant.app_id)
            self.authority.audit.record(grant.app_id, what, "deny", f"address: {error}")
            log.warning("caps: DENY app=%s %s", grant.app_id, refusal)
            raise refusal from None
        self.authority.audit.record(grant.app_id, what, "allow", f"{scope} at {address}")
        import httpx

        target = httpx.URL(url)
        sent = {k: v for k, v in (headers or {}).items() if str(k).lower() != "host"}
        sent["Host"] = target.netloc.decode("ascii")
        client = self.http or httpx.AsyncClient(timeout=15.0)
        try:
            # To the checked address: the name goes in Host and in TLS's SNI and certificate check.
            # No redirects: a 3xx to another host must not escape the grant.
            async with client.stream(method.upper(), target.copy_with(host=address), headers=sent,
                                     content=body, follow_redirects=False,
                                     extensions={"sni_hostname": host}) as response:
                data = b""
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > self.MAX_FETCH_BYTES:
                        raise ValueError(f"net.fetch: response over {self.MAX_FETCH_BYTES} bytes")
                return {"status": response.status_code, "headers": dict(response.headers),
                        "body": data.decode(response.encoding or "utf-8", errors="replace")}
        except httpx.HTTPError as error:
            raise FetchFailed(f"{type(error).__name__}: {error}") from None
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
        """Text is cut and options are checked (notify.py) before anything keeps them: the history
        holds at most 100 small entries whatever the apps send."""
        app = self._check(token, "notify", "ui.notify")
        entry = (app, notify_rules.cut_text(text), notify_rules.check_options(options))
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

    def forget(self, connection: Connection) -> None:
        """An app host's connection closed: drop what the broker kept for it (its watch and its bus
        subscriptions, the functions it provided) now, rather than at the next revocation or publish."""
        self.watchers.pop(connection, None)
        self.bus.drop_key(connection)
        self.compose.forget(connection)

    def forget_on_close(self, connection: Connection) -> None:
        """Call forget() when `connection` closes (one waiter per connection)."""
        if connection in self._forgetting:
            return

        async def wait() -> None:
            with contextlib.suppress(Exception):
                await connection.writer.wait_closed()
            self.forget(connection)
            del self._forgetting[connection]
        self._forgetting[connection] = asyncio.get_running_loop().create_task(wait())

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
        """The app-facing methods (kernel-apps.sock), declared in `AppCalls` and, for calls between
        apps, in compose.py's `ComposeCalls`."""
        return {**ipc.handlers(AppCalls(self)),
                **ipc.handlers(ComposeCalls(self.compose, self.forget_on_close))}

    def admin_handlers(self) -> dict[str, Handler]:
        """The `caps.*` methods (kernel.sock), declared in `CapsAdmin`."""
        return ipc.handlers(CapsAdmin(self))


class AppCalls:
    """The app-facing socket edge. Every method names the token and goes through the broker, whose
    per-call check (expiry, revocation, scope) runs before anything else; errors come back as
    'denied' (with the authority's reason) or 'bad-request'."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    @staticmethod
    def _token(params: dict[str, Any], message: str = "every app call carries its token") -> str:
        token = params.get("token")
        if not isinstance(token, str):
            raise RpcError(ErrorCode.BAD_REQUEST, message)
        return token

    async def _call(self, params: dict[str, Any], method: Callable[..., Awaitable[Any]],
                    *names: str) -> Any:
        """`method(token, *params[names])`, with the broker's refusals turned into error codes."""
        token = self._token(params)
        try:
            return await method(token, *[params.get(name) for name in names])
        except Denied as error:
            raise RpcError(ErrorCode.DENIED, str(error)) from None
        except FetchFailed as error:
            raise RpcError(ErrorCode.BAD_REQUEST, str(error)) from None
        except (ValueError, TypeError, QuotaExceeded) as error:
            raise RpcError(ErrorCode.BAD_REQUEST, f"{type(error).__name__}: {error}") from None

    @rpc("app.describe")
    async def rpc_app_describe(self, _connection: Connection, params: dict[str, Any]) -> Any:
        return await self._call(params, self.broker.describe)

    @rpc("app.watch")
    async def rpc_app_watch(self, connection: Connection, params: dict[str, Any]) -> bool:
        token = self._token(params, "app.watch needs the token")
        try:
            self.broker.authority.verify(token, now=utcnow())
        except Denied as error:
            raise RpcError(ErrorCode.DENIED, str(error)) from None
        self.broker.watchers[connection] = token
        self.broker.forget_on_close(connection)
        return True

    @rpc("app.storage.get")
    async def rpc_app_storage_get(self, _connection: Connection, params: dict[str, Any]) -> Any:
        return await self._call(params, self.broker.storage_get, "key")

    @rpc("app.storage.set")
    async def rpc_app_storage_set(self, _connection: Connection, params: dict[str, Any]) -> Any:
        return await self._call(params, self.broker.storage_set, "key", "value")

    @rpc("app.storage.delete")
    async def rpc_app_storage_delete(self, _connection: Connection, params: dict[str, Any]) -> Any:
        return await self._call(params, self.broker.storage_delete, "key")

    @rpc("app.storage.keys")
    async def rpc_app_storage_keys(self, _connection: Connection, params: dict[str, Any]) -> Any:
        return await self._call(params, self.broker.storage_keys)

    @rpc("app.net.fetch")
    async def rpc_app_net_fetch(self, _connection: Connection, params: dict[str, Any]) -> Any:
        async def fetch(token: str, url: str, options: str | None) -> dict[str, Any]:
            opts = json.loads(options) if options else {}
            if not isinstance(opts, dict):
                raise ValueError("fetch options are an object")
            return await self.broker.net_fetch(token, url, str(opts.get("method", "GET")),
                                               opts.get("headers"), opts.get("body"))
        return await self._call(params, fetch, "url", "options")

    @rpc("app.clipboard.read")
    async def rpc_app_clipboard_read(self, _connection: Connection, params: dict[str, Any]) -> Any:
        return await self._call(params, self.broker.clipboard_read)

    @rpc("app.clipboard.write")
    async def rpc_app_clipboard_write(self, _connection: Connection, params: dict[str, Any]) -> Any:
        return await self._call(params, self.broker.clipboard_write, "text")

    @rpc("app.notify")
    async def rpc_app_notify(self, _connection: Connection, params: dict[str, Any]) -> Any:
        async def notify(token: str, text: str, options: str | None) -> None:
            await self.broker.notify(token, text, notify_rules.parse_options(options))
        return await self._call(params, notify, "text", "options")

    @rpc("app.bus.publish")
    async def rpc_app_bus_publish(self, _connection: Connection, params: dict[str, Any]) -> Any:
        return await self._call(params, self.broker.bus_publish, "channel", "message")

    @rpc("app.bus.subscribe")
    async def rpc_app_bus_subscribe(self, connection: Connection, params: dict[str, Any]) -> None:
        async def deliver(channel: str, message: str, sender: str) -> None:
            await connection.push("bus.message", {"channel": channel, "message": message, "from": sender})
        token, channel = params.get("token"), params.get("channel")
        if not isinstance(token, str) or not isinstance(channel, str):
            raise RpcError(ErrorCode.BAD_REQUEST, "bus.subscribe needs token and channel")
        try:
            await self.broker.bus_subscribe(token, channel, deliver, key=connection,
                                            closed=connection.writer.is_closing)
            self.broker.forget_on_close(connection)
        except Denied as error:
            raise RpcError(ErrorCode.DENIED, str(error)) from None

    @rpc("app.caps.attenuate")
    async def rpc_app_caps_attenuate(self, _connection: Connection, params: dict[str, Any]) -> Any:
        return await self._call(params, self.broker.attenuate, "scopes", "ttl_s")


class CapsAdmin:
    """Minting, revoking and reading the audit log: for the shell and CLI (peer uid in the broker's
    admin_uids), never for apps."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def _admit(self, connection: Connection) -> None:
        uid = connection.peer_uid
        if uid is not None and uid not in self.broker.admin_uids:
            raise RpcError(ErrorCode.DENIED, f"uid {uid} may not administer capabilities")

    @rpc("caps.mint")
    async def rpc_caps_mint(self, connection: Connection, params: dict[str, Any]) -> str:
        self._admit(connection)
        try:
            return self.broker.authority.mint(params["app"], list(params.get("scopes") or []),
                                              timedelta(seconds=float(params.get("ttl_s", 30 * 86400))))
        except Denied as error:
            raise RpcError(ErrorCode.DENIED, str(error)) from None
        except (ValueError, TypeError) as error:
            raise RpcError(ErrorCode.BAD_REQUEST, str(error)) from None

    @rpc("caps.revoke")
    async def rpc_caps_revoke(self, connection: Connection, params: dict[str, Any]) -> list[str]:
        self._admit(connection)
        try:
            return await self.broker.revoke(params["token"], str(params.get("reason", "")))
        except Denied as error:
            raise RpcError(ErrorCode.DENIED, str(error)) from None

    @rpc("caps.audit")
    async def rpc_caps_audit(self, connection: Connection, params: dict[str, Any]) -> list[dict[str, Any]]:
        self._admit(connection)
        try:
            entries = self.broker.authority.audit.entries(
                app=params.get("app"), decision=params.get("decision"), limit=int(params.get("limit", 100)))
        except (ValueError, TypeError) as error:
            raise RpcError(ErrorCode.BAD_REQUEST, str(error)) from None
        return [entry.__dict__ for entry in entries]
