"""The ABI of calls between apps (docs/composition.md): the limits and the error codes, set once here and
read by the kernel's router (compose.py), the app host (appcalls.py) and, through the guest's limits, the
SDK runtime. A call's outcome is data, never an RPC error, so the caller always gets a typed error with
a code it can act on, and the callee keeps running whatever a call brought it."""

from __future__ import annotations

import json
from dataclasses import dataclass

MAX_CALL_BYTES = 64 * 1024    # an argument or a result, as JSON text (UTF-8)
MAX_JSON_DEPTH = 64           # nesting of an argument or a result (a cycle trips it too)
CALL_TIMEOUT_MS = 5_000       # what a call waits for its answer unless the caller asks for less or more
MAX_CALL_TIMEOUT_MS = 30_000  # the most a caller may ask for
START_TIMEOUT_S = 30.0        # for a callee that is not running to start (then its call's time begins)
MAX_DEPTH = 4                 # calls made while serving a call, and so on: A->B->A->B->A is the deepest
MAX_IN_FLIGHT = 8             # calls one app may wait for at once, and calls one app may serve at once
MAX_PROVIDED = 32             # functions one app may provide
MAX_MESSAGE = 2000            # an error's message, in characters

# What a caller can be told. The callee itself may answer only with the last three.
CODES = {
    "denied": "the caller holds no grant for that app's function (or it was revoked, or expired)",
    "bad-argument": "the argument is not a JSON value, or the target is not APP/FUNCTION",
    "too-deep": f"the call would be more than {MAX_DEPTH} calls deep (a loop such as A calls B calls A)",
    "busy": f"the caller already waits for {MAX_IN_FLIGHT} calls, or the callee serves {MAX_IN_FLIGHT}",
    "no-such-app": "the app is not installed, was never approved to run, or did not start",
    "timeout": "no answer within the time limit",
    "too-large": f"the argument or the result is over {MAX_CALL_BYTES} bytes of JSON",
    "no-such-function": "the app provides no function of that name",
    "failed": "the function threw, returned a value that is not JSON, or its app stopped",
}
CALLEE_CODES = frozenset({"too-large", "no-such-function", "failed"})


@dataclass(frozen=True)
class Outcome:
    """A call's end: `value` is the result's JSON text when ok, else the error's message."""

    ok: bool
    value: str
    code: str = ""

    @classmethod
    def fail(cls, code: str, message: str) -> Outcome:
        assert code in CODES, code
        return cls(False, message[:MAX_MESSAGE], code)

    def to_json(self) -> dict[str, object]:
        return {"ok": self.ok, "code": self.code, "value": self.value}


def limits_for_runtime() -> dict[str, int]:
    """The limits the SDK runtime checks before a call leaves the app (the host and the kernel check
    them again: a taken-over guest can skip its own checks)."""
    return {"callBytes": MAX_CALL_BYTES, "callDepth": MAX_JSON_DEPTH, "callTimeoutMs": CALL_TIMEOUT_MS,
            "maxCallTimeoutMs": MAX_CALL_TIMEOUT_MS, "maxProvided": MAX_PROVIDED}


def json_problem(text: object, what: str) -> Outcome | None:
    """Why `text` cannot travel as an argument or a result (not text, too large, not JSON), or None."""
    if not isinstance(text, str):
        return Outcome.fail("bad-argument", f"the {what} is not JSON text")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_CALL_BYTES:
        return Outcome.fail("too-large", f"the {what} is over {MAX_CALL_BYTES} bytes")
    try:
        json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return Outcome.fail("bad-argument", f"the {what} is not a JSON value")
    if _depth(text) > MAX_JSON_DEPTH:
        return Outcome.fail("bad-argument", f"the {what} is nested deeper than {MAX_JSON_DEPTH}")
    return None


def timeout_ms(asked: object) -> int:
    """The time a call may take: what the caller asked for, within 1 ms..MAX_CALL_TIMEOUT_MS."""
    if isinstance(asked, bool) or not isinstance(asked, int | float) or asked != asked:
        return CALL_TIMEOUT_MS
    return max(1, min(MAX_CALL_TIMEOUT_MS, int(asked)))


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _depth(text: str) -> int:
    """How deeply the JSON text nests (brackets outside strings)."""
    deepest = depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
