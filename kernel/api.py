"""The kernel's shell/CLI API (docs/kernel-api.md), served on kernel.sock: one `@rpc` method per call.

Each method checks its params, turns the kernel's refusals into error codes and shapes the answer;
what a call does is done by the kernel's parts (flows, registry, launcher, settings), which the
service (kernel/service.py) owns.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeGuard

from llmos import config
from llmos.ipc import Connection, ErrorCode, Params, RpcError, rpc
from llmos.kernel import usersettings
from llmos.kernel.flow.events import candidate
from llmos.kernel.launcher import app_title
from llmos.kernel.registry import NotFound, Record, RecordError, Untrusted
from llmos.kernel.versions import MigrationError

if TYPE_CHECKING:
    from llmos.kernel.service import KernelService


IDENTITY_REF = "an app identity (app-…), or a version's hash or unique prefix"


def app_json(record: Record) -> dict[str, object]:
    """A saved app as apps.list answers it."""
    return {"hash": record.codeHash, "title": app_title(record), "prompt": record.prompt,
            "capabilities": record.capabilities, "optional": record.optionalCapabilities,
            "rating": record.rating, "model": record.llmModel, "audited": record.audited,
            "generatedAt": record.generatedAt, "parent": record.parent}


def _scopes(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(scope, str) for scope in value)


def _ref(params: Params, what: str = "an app hash or a unique prefix of one") -> str:
    ref = params.get("ref")
    if not isinstance(ref, str) or not ref.strip():
        raise RpcError(ErrorCode.BAD_REQUEST, f"ref must be {what}")
    return ref


def _confirmed_untrusted(params: Params) -> bool:
    """The user's extra confirmation to run an app no trusted key signed or audited."""
    confirmed = params.get("confirm_untrusted", False)
    if not isinstance(confirmed, bool):
        raise RpcError(ErrorCode.BAD_REQUEST, "confirm_untrusted is true or false")
    return confirmed


class KernelApi:
    def __init__(self, kernel: KernelService) -> None:
        self.kernel = kernel

    def _record(self, ref: object, *, confirmed_untrusted: bool = False) -> Record:
        """The verified app `ref`; an untrusted one only once the user confirmed running it anyway."""
        if not isinstance(ref, str) or not ref.strip():
            raise RpcError(ErrorCode.BAD_REQUEST, "ref must be an app hash or a unique prefix of one")
        try:
            return self.kernel.registry.get(ref, allow_untrusted=confirmed_untrusted)
        except NotFound as error:
            raise RpcError(ErrorCode.NO_SUCH_APP, str(error)) from None
        except Untrusted:
            raise RpcError(ErrorCode.UNTRUSTED, f"{ref.strip()} is signed by a key you do not trust; confirm "
                           "to run it anyway (confirm_untrusted: true)") from None
        except RecordError as error:
            raise RpcError(ErrorCode.TAMPERED, str(error)) from None

    # -- flow.* --------------------------------------------------------------------------------
    @rpc("flow.start")
    async def rpc_flow_start(self, connection: Connection, params: Params) -> dict[str, str]:
        prompt = params.get("prompt")
        if not isinstance(prompt, str):
            raise RpcError(ErrorCode.BAD_REQUEST, "flow.start needs a 'prompt' string")
        return self.kernel.start_flow(connection, params, lambda flow: flow.new(prompt))

    @rpc("flow.run")
    async def rpc_flow_run(self, connection: Connection, params: Params) -> dict[str, str]:
        confirmed = _confirmed_untrusted(params)
        record = self._record(params.get("ref"), confirmed_untrusted=confirmed)
        return self.kernel.start_flow(connection, params,
                                      lambda flow: flow.launch(record.codeHash, allow_untrusted=confirmed))

    @rpc("flow.regenerate")
    async def rpc_flow_regenerate(self, connection: Connection, params: Params) -> dict[str, str]:
        record = self._record(params.get("ref"))
        prefer, migration = params.get("prefer"), params.get("migration")
        return self.kernel.start_flow(connection, params, lambda flow: flow.regenerate(
            record.codeHash, prefer if isinstance(prefer, str) else None, migration))

    @rpc("flow.answer")
    async def rpc_flow_answer(self, _connection: Connection, params: Params) -> bool:
        accept = params.get("accept_cached")
        if not isinstance(accept, bool):
            raise RpcError(ErrorCode.BAD_REQUEST, "flow.answer needs accept_cached: true or false")
        self.kernel.flows.get(params.get("flow")).answer("offered-cached", accept)
        return True

    @rpc("flow.approve")
    async def rpc_flow_approve(self, _connection: Connection, params: Params) -> bool:
        granted = params.get("granted")
        if not _scopes(granted):
            raise RpcError(ErrorCode.BAD_REQUEST,
                           "flow.approve needs granted: a list of scopes ([] denies all)")
        self.kernel.flows.get(params.get("flow")).answer("needs-approval", granted)
        return True

    @rpc("flow.cancel")
    async def rpc_flow_cancel(self, _connection: Connection, params: Params) -> bool:
        return self.kernel.flows.cancel(params.get("flow"))

    # -- apps.* --------------------------------------------------------------------------------
    @rpc("apps.list")
    async def rpc_apps_list(self, _connection: Connection, _params: Params) -> list[dict[str, object]]:
        return [app_json(record) for record in self.kernel.registry.records()]

    @rpc("apps.search")
    async def rpc_apps_search(self, _connection: Connection, params: Params) -> list[dict[str, object]]:
        text, limit = params.get("text"), params.get("limit", 5)
        if not isinstance(text, str) or not isinstance(limit, int) or not 1 <= limit <= 100:
            raise RpcError(ErrorCode.BAD_REQUEST, "apps.search needs text (string) and limit (1..100)")
        registry = self.kernel.registry
        found = []
        for match in registry.search(text, limit):
            item = {**candidate(match.codeHash, match.prompt, match.score), "origin": match.origin,
                    "trusted": match.trusted}
            with contextlib.suppress(LookupError, RecordError):  # a title only: nothing runs here
                item["title"] = app_title(registry.get(match.codeHash, allow_untrusted=True))
            found.append(item)
        return found

    @rpc("apps.run")
    async def rpc_apps_run(self, _connection: Connection, params: Params) -> Mapping[str, object]:
        record = self._record(params.get("ref"), confirmed_untrusted=_confirmed_untrusted(params))
        grants = self.kernel.grants
        granted = params.get("granted")
        if granted is None:
            granted = grants.get(record.codeHash)
            if granted is None:  # never approved: only the approval dialog (flow.run) may grant
                raise RpcError(ErrorCode.NEEDS_APPROVAL, f"{record.short} has not been approved yet; "
                               "start flow.run to ask the user")
        elif not _scopes(granted):
            raise RpcError(ErrorCode.BAD_REQUEST, "granted is a list of scopes")
        missing = sorted(set(record.capabilities) - set(record.optionalCapabilities) - set(granted))
        if missing:
            raise RpcError(ErrorCode.DENIED,
                           f"{record.short} needs {', '.join(missing)}, which is not granted")
        try:
            app = await self.kernel.launcher.launch(record, granted)
        except (RuntimeError, ValueError) as error:
            raise RpcError(ErrorCode.LAUNCH_FAILED, str(error)) from None
        if params.get("granted") is not None:
            grants.set(record.codeHash, granted)
        return {"app_id": app.app_id, "hash": app.hash, "title": app.title, "pid": app.pid}

    @rpc("apps.provenance")
    async def rpc_apps_provenance(self, _connection: Connection, params: Params) -> Mapping[str, object]:
        """Where an app came from, who signed, audited and rated it, and whether the user trusts them
        (the same object as `llmos app provenance --json`)."""
        try:
            return self.kernel.registry.provenance(_ref(params)).to_json()
        except NotFound as error:
            raise RpcError(ErrorCode.NO_SUCH_APP, str(error)) from None

    @rpc("apps.history")
    async def rpc_apps_history(self, _connection: Connection, params: Params) -> Mapping[str, object]:
        """An app's identity and its versions in order, with model, date and rating (docs/versions.md)."""
        try:
            return self.kernel.versions.history(_ref(params, IDENTITY_REF)).to_json()
        except NotFound as error:
            raise RpcError(ErrorCode.NO_SUCH_APP, str(error)) from None

    @rpc("apps.rollback")
    async def rpc_apps_rollback(self, _connection: Connection, params: Params) -> Mapping[str, object]:
        """Point an app at an earlier version (`to`: a number or hash; default the one before the
        current one) with that version's view of the data; no model is asked. Running versions of the
        app are stopped first; run it again with apps.run."""
        ref, to = _ref(params, IDENTITY_REF), params.get("to")
        if not (to is None or isinstance(to, str | int)) or isinstance(to, bool):
            raise RpcError(ErrorCode.BAD_REQUEST, "to is a version number or hash")
        versions = self.kernel.versions
        try:
            target = versions.rollback_target(ref, None if to is None else str(to))
            stopped = [app.app_id for app in self.kernel.launcher.instances_of(target.identity)]
            for app_id in stopped:  # one version of an app at a time writes its data
                await self.kernel.launcher.stop(app_id)
            switched = versions.switch(target.identity, target.code_hash, "rollback")
        except NotFound as error:
            raise RpcError(ErrorCode.NO_SUCH_APP, str(error)) from None
        except (MigrationError, ValueError) as error:
            raise RpcError(ErrorCode.BAD_REQUEST, str(error)) from None
        return {**switched.to_json(), "stopped": stopped}

    @rpc("apps.running")
    async def rpc_apps_running(self, _connection: Connection,
                               _params: Params) -> list[dict[str, object]]:
        return [app.row().to_json() for app in self.kernel.launcher.apps.values()]

    @rpc("apps.stop")
    async def rpc_apps_stop(self, _connection: Connection, params: Params) -> Mapping[str, object]:
        try:
            app = await self.kernel.launcher.stop(str(params.get("app_id")))
        except KeyError:
            raise RpcError(ErrorCode.NO_SUCH_APP, f"no running app {params.get('app_id')!r}") from None
        return {"app_id": app.app_id, "state": app.state}

    # -- events, settings, status --------------------------------------------------------------
    @rpc("subscribe")
    async def rpc_subscribe(self, connection: Connection, params: Params) -> list[str]:
        events = params.get("events") or ["notify", "app"]
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise RpcError(ErrorCode.BAD_REQUEST, "events is a list of names: notify, app, flow, settings")
        connection.subscriptions.update(events)
        return sorted(connection.subscriptions)

    @rpc("settings.get")
    async def rpc_settings_get(self, _connection: Connection, _params: Params) -> Mapping[str, object]:
        return usersettings.current()

    @rpc("settings.set")
    async def rpc_settings_set(self, _connection: Connection, params: Params) -> Mapping[str, object]:
        try:
            section, key, value = usersettings.check(params.get("section"), params.get("key"),
                                                     params.get("value"))
        except ValueError as error:
            raise RpcError(ErrorCode.BAD_REQUEST, str(error)) from None
        if (section, key) == ("kiosk", "app") and value:
            value = self._record(value).codeHash
        usersettings.save(section, key, value)
        await self.kernel.settings_changed(section, key)
        return usersettings.current(self.kernel.cfg)

    @rpc("gateway.providers")
    async def rpc_gateway_providers(self, _connection: Connection, _params: Params) -> Mapping[str, object]:
        """The model providers in routing order with their health, and any left out (docs/gateway.md)."""
        from llmos.kernel.gateway.health import overview

        return (await overview(self.kernel.gateway.instance(), self.kernel.cfg.problems)).to_json()

    @rpc("gateway.default")
    async def rpc_gateway_default(self, connection: Connection, params: Params) -> Mapping[str, object]:
        """Pick the provider tried first ("" for the embedded model), saved in the user's llmos.toml."""
        name = params.get("name")
        names = [c.name for c in self.kernel.gateway.instance().candidates()]
        if not isinstance(name, str) or (name and name not in names):
            raise RpcError(ErrorCode.BAD_REQUEST, f"name must be one of {', '.join(names)}, or \"\"")
        config.save_user_setting("gateway", "default_provider", name)
        await self.kernel.settings_changed("gateway", "default_provider")
        return await self.rpc_gateway_providers(connection, params)

    @rpc("status")
    async def rpc_status(self, _connection: Connection, _params: Params) -> Mapping[str, object]:
        kernel = self.kernel
        kiosk = None
        if kernel.kiosk is not None:
            current = kernel.kiosk.current
            kiosk = {"app": kernel.kiosk.ref, "restarts": kernel.kiosk.restarts,
                     "problem": kernel.kiosk.problem, "app_id": current.app_id if current else None}
        return {"model_loaded": kernel.gateway.loaded, "model": kernel.gateway.model(kernel.cfg),
                "apps_running": len(kernel.launcher.apps), "first_boot": kernel.first_boot,
                "apps": len(kernel.registry), "mode": kernel.cfg.settings.system.mode,
                "renderer": kernel.renderer(), "flows": len(kernel.flows.sessions), "kiosk": kiosk,
                "uptime_s": round(time.monotonic() - kernel.started, 3), "pid": os.getpid()}
