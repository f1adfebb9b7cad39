"""How a host function answers the app's JavaScript (sdk/js/runtime.js's `call()`).

A host function returns its value itself: any JSON value, null included. It fails by raising:
HostFunctionError carries the message the app is to see (the kernel's reason, a refused argument);
any other exception shows as "Type: message". The guest wraps every host function with
`Answers.wrap`, which keeps a failure's message as the guest's last error and re-raises, so quickjs-rs
throws its sanitized HostError ("Host function failed") inside the guest. Only then does `call()` ask
the `last_error` host function for the message, and throw a CapabilityError with it.

Why: an {ok, value} object per answer cost five guest calls more than the value (allocations, a JSON
parse, frees), nearly a bare callback's time again (docs/PERFORMANCE.md); a failure is rare.

Why neither side can be forged: a failure is an exception in the bridge, never a value, so no value
(a string like a marker, an object like an old envelope, null) passes for one, and a value is exactly
what the function returned. The message stays in the host, is cleared when each call starts and is
read once; app code reaches no host function (they are captured into the runtime's closure before it
runs), so it can neither set the message nor read it outside `call()`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmos.kernel.sandbox.status import cut

HostFunction = Callable[..., Any]

LAST_ERROR = "last_error"  # the host function call() asks for a failed call's message


class HostFunctionError(Exception):
    """A host function's failure, with the message the app sees as its CapabilityError's."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Answers:
    """One guest's host functions' answers: the message of the call that failed last."""

    def __init__(self) -> None:
        self._failure: str | None = None

    def wrap(self, fn: HostFunction) -> HostFunction:
        def call(*args: Any) -> Any:
            self._failure = None
            try:
                return fn(*args)
            except HostFunctionError as error:
                self._failure = error.message
                raise
            except Exception as error:
                self._failure = cut(f"{type(error).__name__}: {error}")
                raise
        return call

    def last_error(self) -> str | None:
        """The failed call's message, once; None if the last call did not fail in its function (the
        bridge itself failed, say): call() then lets the guest's own error go on."""
        failure, self._failure = self._failure, None
        return failure

    def functions(self, fns: dict[str, HostFunction]) -> dict[str, HostFunction]:
        """`fns`, each wrapped, and `last_error` (a function of that name in `fns` is replaced)."""
        wrapped = {name: self.wrap(fn) for name, fn in fns.items() if name != LAST_ERROR}
        wrapped[LAST_ERROR] = self.last_error
        return wrapped
