"""Calls between apps, routed by the kernel (docs/composition.md). An app never reaches another app
directly: its host asks the kernel, which checks the caller's grant, finds (or starts) the callee, hands
it a token for this one call and carries the answer back.

The kernel path of one call:
1. the caller's host sends `app.call` {token, ref, target "APP/FUNCTION", args (JSON text), timeout_ms}
   and is answered `true` at once; the outcome comes later as an `apps.answer` push {ref, ok, code,
   value}, so a slow callee never holds up the caller's connection (requests on it are answered in turn);
2. the authority checks the caller's token for app:APP/FUNCTION (audited, allowed or denied);
3. the router refuses what breaks the ABI (callabi.py): size, JSON, depth, calls in flight;
4. it finds the callee's host, which said what it provides (`app.provide`) when it started, or has it
   started headless by `starter` (the kernel's launcher: no window, the grants the user approved for it;
   the call's time limit starts once it runs);
5. it derives the callee's token for this call (Authority.for_call: the callee's own rights, the caller's
   name, the call's deadline) and pushes `apps.invoke` {call, from, function, args, token} to it;
6. the callee's host answers with `app.reply` under that token; the router checks the result (JSON,
   size) and pushes it to the caller. No answer by the deadline is a timeout; the callee stopping is a
   failure. Either way the caller gets a typed error and the callee runs on (or not) on its own account.

Calls the callee makes while it serves a call carry the call's token, so the router knows the chain of
apps behind each call: it bounds the chain's depth (a loop A->B->A->... ends in `too-deep`) and gives
an inner call no more time than the outer one has left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from llmos.ipc import Connection, ErrorCode, RpcError, rpc
from llmos.kernel.caps import Authority, Denied
from llmos.kernel.caps.authority import utcnow
from llmos.kernel.caps.table import target_of
from llmos.kernel.sandbox.callabi import (
    CALLEE_CODES,
    MAX_DEPTH,
    MAX_IN_FLIGHT,
    MAX_PROVIDED,
    START_TIMEOUT_S,
    Outcome,
    json_problem,
    timeout_ms,
)

log = logging.getLogger("llmos.sandbox.compose")

Starter = Callable[[str], Coroutine[Any, Any, None]]  # app id -> once its host runs and said what it provides
_FUNCTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(eq=False)
class Provider:
    """A running app host, with the functions it provides (possibly none) and its own token."""

    app: str
    token: str
    connection: Connection
    functions: frozenset[str]


@dataclass(eq=False)
class Call:
    """One call in flight."""

    id: str
    caller: str
    target: str
    path: tuple[str, ...]  # the apps from the first caller to this callee
    deadline: float        # the event loop's clock
    token: str             # the callee's token for this call
    provider: Provider
    answer: asyncio.Future[Outcome]


class Composer:
    """The router: which app hosts provide what, the calls in flight, and the rules every call obeys."""

    def __init__(self, authority: Authority, starter: Starter | None = None) -> None:
        self.authority = authority
        self.starter = starter
        self.providers: dict[str, Provider] = {}
        self.calls: dict[str, Call] = {}
        self._by_token: dict[str, Call] = {}
        self._waiting: Counter[str] = Counter()  # calls each app waits for
        self._serving: Counter[str] = Counter()  # calls each app serves
        self._starting: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._asked: dict[str, float] = {}  # app -> when a call last asked for it (the event loop's clock)

    # -- providers ---------------------------------------------------------------------------------
    def provide(self, connection: Connection, token: str, functions: object) -> list[str]:
        """An app host, once loaded, says what its app provides (every host does, with [] for nothing):
        from then on calls to it are routed to this connection."""
        grant = self.authority.verify(token, now=utcnow())
        if not isinstance(functions, list) or not all(isinstance(f, str) and _FUNCTION.match(f)
                                                      for f in functions):
            raise ValueError("functions is a list of function names")
        if len(functions) > MAX_PROVIDED:
            raise ValueError(f"an app provides at most {MAX_PROVIDED} functions")
        names = sorted(set(functions))
        self.providers[grant.app_id] = Provider(grant.app_id, token, connection, frozenset(names))
        self.authority.audit.record(grant.app_id, "app.provide", "allow", ",".join(names) or "nothing")
        return names

    def forget(self, connection: Connection) -> None:
        """A host's connection closed: it provides nothing any more, and what it was serving failed."""
        for app, provider in list(self.providers.items()):
            if provider.connection is connection:
                del self.providers[app]
        for call in list(self.calls.values()):
            if call.provider.connection is connection and not call.answer.done():
                call.answer.set_result(Outcome.fail(
                    "failed", f"{call.provider.app} stopped before it answered"))

    def idle_s(self, app: str) -> float:
        """Seconds since a call last asked for `app`, 0 while it serves one: a headless app retires on it."""
        if self._serving[app] > 0:
            return 0.0
        now = asyncio.get_running_loop().time()
        return now - self._asked.get(app, now)

    async def _provider(self, app: str, deadline: float) -> Provider:
        """The running host of `app`, started headless first if need be. Raises LookupError (why not) or
        TimeoutError (not up by the deadline)."""
        loop = asyncio.get_running_loop()
        self._asked[app] = loop.time()
        provider = self.providers.get(app)
        if provider is not None and not provider.connection.writer.is_closing():
            return provider
        if self.starter is None:
            raise LookupError(f"{app} is not running")
        task = self._starting.get(app)
        if task is None:  # one start however many calls wait for it
            task = self._starting[app] = loop.create_task(self.starter(app))
            task.add_done_callback(lambda _: self._starting.pop(app, None))
        try:
            await asyncio.wait_for(asyncio.shield(task), max(0.0, deadline - loop.time()))
        except (TimeoutError, LookupError):
            raise
        except Exception as error:
            raise LookupError(f"{app} did not start: {error}") from None
        provider = self.providers.get(app)
        if provider is None:
            raise LookupError(f"{app} started but did not say what it provides")
        return provider

    # -- calls -------------------------------------------------------------------------------------
    def start_call(self, connection: Connection, token: str, ref: int, target: object, args: object,
                   timeout: object) -> None:
        """Take a call and push its outcome to `connection` as `apps.answer` when it has one."""
        async def run() -> None:
            try:
                outcome = await self.call(token, target, args, timeout)
            except Exception as error:  # a router bug still answers the caller
                log.exception("compose: call %s failed inside the kernel", target)
                outcome = Outcome.fail("failed", f"the kernel could not route it: {type(error).__name__}")
            await connection.push("apps.answer", {"ref": ref, **outcome.to_json()})
        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def call(self, token: str, target: object, args: object, timeout: object = None) -> Outcome:
        """One call, from the caller's token to the callee's answer (or the reason there is none)."""
        if not isinstance(target, str) or target_of(target) is None:
            return Outcome.fail("bad-argument", f"{str(target)[:140]!r} is not APP/FUNCTION")
        what = f"app.call {target}"
        try:
            grant = self.authority.check(token, f"app:{target}", what)
        except Denied as error:
            return Outcome.fail("denied", f"{target}: {error.message}")
        caller, callee = grant.app_id, target.partition("/")[0]
        parent = self._by_token.get(token)  # the call the caller is serving, if it calls from inside one
        path = (*(parent.path if parent is not None else (caller,)), callee)
        refusal = json_problem(args, "argument")
        if refusal is None and len(path) - 1 > MAX_DEPTH:
            refusal = Outcome.fail("too-deep", f"{' > '.join(path)} is more than {MAX_DEPTH} calls deep")
        if refusal is None and self._waiting[caller] >= MAX_IN_FLIGHT:
            refusal = Outcome.fail("busy", f"{caller} already waits for {MAX_IN_FLIGHT} calls")
        if refusal is not None:
            return self._refused(caller, what, refusal)
        assert isinstance(args, str)
        self._waiting[caller] += 1
        try:
            return await self._route(caller, target, path, timeout_ms(timeout) / 1000,
                                     parent.deadline if parent is not None else None, args)
        finally:
            self._waiting[caller] -= 1
            if self._waiting[caller] <= 0:
                del self._waiting[caller]

    async def _route(self, caller: str, target: str, path: tuple[str, ...], limit_s: float,
                     outer: float | None, args: str) -> Outcome:
        """Find or start the callee, then give the call `limit_s` from there, and never more than the call
        it is made from (`outer`, its deadline) has left."""
        loop = asyncio.get_running_loop()
        started, what = loop.time(), f"app.call {target}"
        callee, _, function = target.partition("/")
        try:
            provider = await self._provider(callee, started + START_TIMEOUT_S if outer is None else outer)
        except TimeoutError:
            return self._done(caller, target, started,
                              Outcome.fail("timeout", f"{callee} did not start in time"))
        except LookupError as error:
            return self._refused(caller, what, Outcome.fail("no-such-app", str(error)))
        if function not in provider.functions:
            return self._refused(caller, what, Outcome.fail(
                "no-such-function", f"{callee} provides no function {function!r}"
                f" (it provides: {', '.join(sorted(provider.functions)) or 'nothing'})"))
        if self._serving[callee] >= MAX_IN_FLIGHT:
            return self._refused(caller, what,
                                 Outcome.fail("busy", f"{callee} already serves {MAX_IN_FLIGHT} calls"))
        deadline = loop.time() + limit_s if outer is None else min(loop.time() + limit_s, outer)
        call_id = secrets.token_hex(8)
        until = datetime.now(UTC) + timedelta(seconds=max(0.0, deadline - loop.time()))
        call = Call(call_id, caller, target, path, deadline,
                    self.authority.for_call(provider.token, caller, call_id, until), provider,
                    loop.create_future())
        self.calls[call_id], self._by_token[call.token] = call, call
        self._serving[callee] += 1
        self.authority.audit.record(callee, f"app.serve {function}", "allow",
                                    f"call {call_id} from {caller} ({' > '.join(path)})")
        try:
            await provider.connection.push("apps.invoke", {"call": call_id, "from": caller,
                                                           "function": function, "args": args,
                                                           "token": call.token})
            outcome = await asyncio.wait_for(asyncio.shield(call.answer), max(0.0, deadline - loop.time()))
        except TimeoutError:
            waited = round((loop.time() - started) * 1000)
            outcome = Outcome.fail("timeout", f"{target} did not answer within {waited} ms")
        finally:
            del self.calls[call_id], self._by_token[call.token]
            self._asked[callee] = loop.time()
            self._serving[callee] -= 1
            if self._serving[callee] <= 0:
                del self._serving[callee]
        return self._done(caller, target, started, outcome)

    def reply(self, token: str, call_id: object, ok: object, code: object, value: object) -> bool:
        """The callee's answer, under the token of the call it answers (so only that callee can answer
        it); False when the call is over (answered, timed out) or not this token's."""
        call = self.calls.get(call_id) if isinstance(call_id, str) else None
        if call is None or call.token != token or call.answer.done():
            return False
        if ok is True:
            problem = json_problem(value, "result")
            outcome = Outcome(True, str(value)) if problem is None else Outcome.fail(
                "too-large" if problem.code == "too-large" else "failed", problem.value)
        else:
            outcome = Outcome.fail(code if isinstance(code, str) and code in CALLEE_CODES else "failed",
                                   f"{call.target}: {value}")
        call.answer.set_result(outcome)
        return True

    def _refused(self, caller: str, what: str, outcome: Outcome) -> Outcome:
        """A call the kernel refused before the callee saw it: audited as a denial."""
        log.info("compose: %s by %s refused: %s: %s", what, caller, outcome.code, outcome.value)
        self.authority.audit.record(caller, what, "deny", f"{outcome.code}: {outcome.value}")
        return outcome

    def _done(self, caller: str, target: str, started: float, outcome: Outcome) -> Outcome:
        ms = round((asyncio.get_running_loop().time() - started) * 1000)
        self.authority.audit.record(caller, f"app.answer {target}", "allow",
                                    f"{'ok' if outcome.ok else outcome.code} in {ms} ms")
        return outcome

    async def close(self) -> None:
        for task in list(self._tasks) + list(self._starting.values()):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


class ComposeCalls:
    """The composition methods of the app-facing socket (kernel-apps.sock), beside the broker's AppCalls."""

    def __init__(self, composer: Composer, watch: Callable[[Connection], None]) -> None:
        self.composer = composer
        self.watch = watch  # forget what a connection provided when it closes

    @staticmethod
    def _token(params: dict[str, Any]) -> str:
        token = params.get("token")
        if not isinstance(token, str):
            raise RpcError(ErrorCode.BAD_REQUEST, "every app call carries its token")
        return token

    @rpc("app.provide")
    async def rpc_app_provide(self, connection: Connection, params: dict[str, Any]) -> list[str]:
        try:
            names = self.composer.provide(connection, self._token(params), params.get("functions"))
        except Denied as error:
            raise RpcError(ErrorCode.DENIED, str(error)) from None
        except ValueError as error:
            raise RpcError(ErrorCode.BAD_REQUEST, str(error)) from None
        self.watch(connection)
        return names

    @rpc("app.call")
    async def rpc_app_call(self, connection: Connection, params: dict[str, Any]) -> bool:
        ref = params.get("ref")
        if not isinstance(ref, int) or isinstance(ref, bool):
            raise RpcError(ErrorCode.BAD_REQUEST, "app.call needs an integer ref for its answer")
        self.composer.start_call(connection, self._token(params), ref, params.get("target"),
                                 params.get("args"), params.get("timeout_ms"))
        return True

    @rpc("app.reply")
    async def rpc_app_reply(self, _connection: Connection, params: dict[str, Any]) -> bool:
        return self.composer.reply(self._token(params), params.get("call"), params.get("ok"),
                                   params.get("code"), params.get("value"))
