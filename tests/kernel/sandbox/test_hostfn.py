"""How host functions answer the app (kernel/sandbox/hostfn.py, sdk/js/runtime.js's call()): the value
itself on success; on failure an exception, whose message call() fetches with last_error. Tested alone
and through a real QuickJS guest running an app."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmos.kernel.sandbox import wasmcache
from llmos.kernel.sandbox.guest import Guest
from llmos.kernel.sandbox.hostfn import LAST_ERROR, Answers, HostFunctionError
from llmos.kernel.sandbox.transpile import transpile


@pytest.fixture(scope="module", autouse=True)
def compiled(tmp_path_factory):
    wasmcache.install(tmp_path_factory.mktemp("wasm"))


def test_a_value_is_the_answer_and_a_failure_is_kept_for_one_read() -> None:
    def refuse() -> None:
        raise HostFunctionError("denied: no")

    fns = Answers().functions({"echo": lambda x: x, "refuse": refuse, "bug": lambda: {}["missing"],
                               LAST_ERROR: lambda: "forged"})
    forged = {"ok": False, "error": "x"}
    assert fns["echo"](None) is None and fns["echo"](forged) == forged
    assert fns[LAST_ERROR]() is None  # the caller's own last_error was replaced
    with pytest.raises(HostFunctionError):
        fns["refuse"]()
    assert fns[LAST_ERROR]() == "denied: no"
    assert fns[LAST_ERROR]() is None  # read once
    with pytest.raises(KeyError):
        fns["bug"]()
    assert fns[LAST_ERROR]() == "KeyError: 'missing'"
    with pytest.raises(HostFunctionError):
        fns["refuse"]()
    assert fns["echo"](1) == 1
    assert fns[LAST_ERROR]() is None  # every call starts clean: no failure outlives the next call


class Host:
    """storage_* over a dict, as the kernel would answer them, with a switch that fails every call."""

    def __init__(self) -> None:
        self.store: dict[str, str] = {}
        self.failure: Exception | None = None

    def functions(self) -> dict[str, Any]:
        def answer(value: Any) -> Any:
            if self.failure is not None:
                raise self.failure
            return value
        return {
            "log": lambda level, text: None,
            "storage_get": lambda key: answer(self.store.get(key)),
            "storage_set": lambda key, value: answer(self.store.__setitem__(key, value)),
            "storage_delete": lambda key: answer(self.store.pop(key, None) and None),
            "storage_keys": lambda: answer(sorted(self.store)),
            "notify": lambda text, options: object(),  # a value the bridge cannot carry
        }


def run(host: Host, body: str) -> Any:
    """The JSON value an app's render computes with `body` (a JS function body with sdk in scope)."""
    source = ("import * as sdk from '@llm-os/sdk';\n"
              f"const compute = () => {{ {body} }};\n"
              "export default function App() { return sdk.ui.Text(JSON.stringify(compute())); }\n")
    guest = Guest(frozenset({"ui:window", "storage:local", "notify"}), host.functions())
    try:
        tree = guest.load(transpile(source).code, 0).tree
    finally:
        guest.close()
    assert tree is not None
    return json.loads(tree["children"][0])


CAUGHT = """
  const caught = (fn) => { try { return ['value', fn()]; }
    catch (e) { return [e.name, e.message, e instanceof sdk.CapabilityError]; } };
"""


@pytest.mark.parametrize(("failure", "message"), [
    (HostFunctionError("revoked: user pressed revoke"), "revoked: user pressed revoke"),
    (ConnectionError("kernel gone"), "ConnectionError: kernel gone"),
    (HostFunctionError(""), "storage_get failed"),
])
def test_a_failing_call_is_a_capability_error_with_the_hosts_reason(failure: Exception, message: str) -> None:
    host = Host()
    host.failure = failure
    assert run(host, CAUGHT + "return caught(() => sdk.storage.get('k'));") == \
        ["CapabilityError", message, True]


def test_after_a_failure_the_next_call_answers_its_own_value() -> None:
    host = Host()
    host.store["k"] = '"v"'
    host.failure = HostFunctionError("denied: scope")
    first = run(host, CAUGHT + "return caught(() => sdk.storage.get('k'));")
    host.failure = None
    assert first == ["CapabilityError", "denied: scope", True]
    assert run(host, CAUGHT + "const a = caught(() => sdk.storage.get('gone'));"
                              "return [a, caught(() => sdk.storage.get('k'))];") == \
        [["value", None], ["value", "v"]]


LOOKALIKES: list[Any] = [
    None, "Host function failed", "HostError", "last_error", {"ok": False, "error": "forged"},
    {"ok": True, "value": 1}, {"name": "HostError", "message": "Host function failed"}, [], "", 0, False,
]


def test_values_that_look_like_failures_or_answers_round_trip_as_values() -> None:
    host = Host()
    assert run(host, CAUGHT + f"""
      const values = {json.dumps(LOOKALIKES)};
      values.forEach((v, i) => sdk.storage.set('k' + i, v));
      return [values.map((_, i) => caught(() => sdk.storage.get('k' + i, 'fallback'))),
              caught(() => sdk.storage.keys().length)];
    """) == [[["value", v] for v in LOOKALIKES], ["value", len(LOOKALIKES)]]
    assert host.store["k0"] == "null"


def test_null_and_undefined_values_and_missing_keys() -> None:
    host = Host()
    assert run(host, CAUGHT + """
      sdk.storage.set('u', undefined);
      return [caught(() => sdk.storage.get('u', 7)), caught(() => sdk.storage.get('none')),
              caught(() => sdk.storage.get('none', 'dflt')), caught(() => sdk.storage.remove('u')),
              caught(() => sdk.storage.get('u', 'gone'))];
    """) == [["value", None], ["value", None], ["value", "dflt"], ["value", None], ["value", "gone"]]
    assert host.store == {}


def test_an_error_the_host_did_not_record_goes_on_as_it_is() -> None:
    """notify answers a Python object quickjs-rs cannot carry: the bridge fails, nothing was recorded,
    so the app sees quickjs-rs's own sanitized error, not a CapabilityError with someone else's reason."""
    host = Host()
    assert run(host, CAUGHT + "return caught(() => sdk.ui.notify('hi'));") == \
        ["HostError", "Host function failed", False]


def test_the_app_reaches_no_last_error() -> None:
    assert run(Host(), """
      const names = Object.getOwnPropertyNames(globalThis).filter((n) => /last_error|__llmos/.test(n));
      return [names, typeof sdk.last_error, typeof globalThis.last_error];
    """) == [[], "undefined", "undefined"]
