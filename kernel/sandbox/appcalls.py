"""The app host's side of calls between apps (the kernel's side is compose.py, the ABI callabi.py).

Calls this app makes: the runtime's apps.call reaches the `app_call` host function, which sends
`app.call` on the host's asyncio connection and returns at once; the kernel pushes `apps.answer`
later, and the answer settles the app's promise. Calls this app serves: the kernel pushes
`apps.invoke` with a token for that call; the function runs in the guest, and its answer leaves
through the `call_reply` host function as `app.reply`, under the call's token.

Why a context token: work the app does while it serves a call (the function itself, and what runs when
the answers to its own calls come back) reaches the kernel under that call's token, not the app's own.
The kernel then knows the chain of apps behind each call (and bounds it), the audit says which call
the work was for, and the work stops being allowed when the call's time is up.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from llmos.ipc import RpcError
from llmos.kernel.sandbox.callabi import MAX_CALL_BYTES, MAX_CALL_TIMEOUT_MS
from llmos.kernel.sandbox.status import cut

if TYPE_CHECKING:
    from llmos.kernel.sandbox.host import AppHost

log = logging.getLogger("llmos.sandbox.appcalls")


class HostCalls:
    def __init__(self, host: AppHost) -> None:
        self.host = host
        self.context: str | None = None      # the token of the call being served, while its work runs
        self.serving: dict[str, str] = {}    # call id -> its token, until answered
        self.waiting: dict[int, str | None] = {}  # this app's call ref -> the context it was made in

    @property
    def token(self) -> str:
        """The token kernel calls made now go under: the served call's, else the app's own."""
        return self.context or self.host.token

    @contextlib.contextmanager
    def within(self, token: str | None) -> Iterator[None]:
        outer, self.context = self.context, token
        try:
            yield
        finally:
            self.context = outer

    def functions(self) -> dict[str, Any]:
        """The host functions (answering as hostfn.py says): call_reply for every app (providing needs
        no grant), app_call only with some app:APP/FUNCTION grant."""
        fns: dict[str, Any] = {"call_reply": self.reply}
        if any(scope.startswith("app:") for scope in self.host.scopes):
            fns["app_call"] = self.start
        return fns

    # -- calls this app makes ----------------------------------------------------------------------
    def start(self, ref: Any, target: Any, args: Any, timeout_ms: Any) -> None:
        """From inside the guest: send the call and return; every outcome comes back as an answer."""
        ref, target, args = int(ref), str(target), str(args)
        self.waiting[ref] = self.context
        if f"app:{target}" not in self.host.scopes:
            self._answer_soon(ref, False, "denied",
                              f"apps.call {target}: needs 'app:{target}', which was not granted")
        elif len(args.encode("utf-8", "surrogatepass")) > MAX_CALL_BYTES:
            self._answer_soon(ref, False, "too-large",
                              f"apps.call {target}: the argument is over {MAX_CALL_BYTES} bytes")
        else:
            self.host._spawn(self._send(ref, target, args, int(timeout_ms), self.token))

    async def _send(self, ref: int, target: str, args: str, timeout_ms: int, token: str) -> None:
        assert self.host.kernel_async is not None
        try:
            await self.host.kernel_async.call("app.call", token=token, ref=ref, target=target, args=args,
                                              timeout_ms=timeout_ms, timeout=MAX_CALL_TIMEOUT_MS / 1000 + 5)
        except RpcError as error:
            self.answer(ref, False, "denied" if error.code == "denied" else "bad-argument", error.message)
        except (TimeoutError, ConnectionError) as error:
            self.answer(ref, False, "failed", f"the kernel did not take the call: {type(error).__name__}")

    def _answer_soon(self, ref: int, ok: bool, code: str, value: str) -> None:
        """An answer found inside the guest's own call: delivered once that entry is over."""
        async def later() -> None:
            self.answer(ref, ok, code, value)
        self.host._spawn(later())

    def on_answer(self, data: Any) -> None:
        """The kernel's `apps.answer` push."""
        ref, ok, code, value = data["ref"], data["ok"], data.get("code", ""), data["value"]
        if not isinstance(ref, int) or not isinstance(ok, bool) or not isinstance(value, str) \
                or not isinstance(code, str):
            raise ValueError("apps.answer: ref, ok, code and value have their types")
        self.answer(ref, ok, code, value)

    def answer(self, ref: int, ok: bool, code: str, value: str) -> None:
        if ref not in self.waiting:
            return
        context = self.waiting.pop(ref)
        guest = self.host.guest
        if guest is None:
            return
        with self.within(context):  # what the answer lets run is still the served call's work
            self.host._run(lambda: guest.answer(ref, ok, code, value, self.host.now_ms()),
                           "an answer from another app")

    # -- calls this app serves ---------------------------------------------------------------------
    def on_invoke(self, data: Any) -> None:
        """The kernel's `apps.invoke` push: run the function under the call's token."""
        call, function, args, caller, token = (data["call"], data["function"], data["args"], data["from"],
                                               data["token"])
        if not all(isinstance(v, str) for v in (call, function, args, caller, token)):
            raise ValueError("apps.invoke fields are strings")
        self.serving[call] = token
        guest = self.host.guest
        if guest is None:
            return
        with self.within(token):
            ran = self.host._run(lambda: guest.invoke(call, function, args, caller, self.host.now_ms()),
                                 "a call from another app")
        if not ran and call in self.serving:  # not running (yet, or any more): the caller hears it now
            self.reply(call, False, "failed", "the app is not running")

    def reply(self, call: Any, ok: Any, code: Any, value: Any) -> None:
        """From inside the guest: the answer to a call this app serves, sent under that call's token."""
        token = self.serving.pop(str(call), None)
        if token is None:
            return  # answered already
        text = str(value)
        if ok is True and len(text.encode("utf-8", "surrogatepass")) > MAX_CALL_BYTES:
            ok, code, text = False, "too-large", f"the result is over {MAX_CALL_BYTES} bytes"
        if ok is not True:
            text = cut(text)
        self.host._spawn(self._reply(token, str(call), ok is True, str(code), text))

    async def _reply(self, token: str, call: str, ok: bool, code: str, value: str) -> None:
        assert self.host.kernel_async is not None
        try:
            await self.host.kernel_async.call("app.reply", token=token, call=call, ok=ok, code=code,
                                              value=value)
        except (RpcError, TimeoutError, ConnectionError) as error:
            log.warning("%s: the answer to call %s did not reach the kernel: %r", self.host.app, call, error)
