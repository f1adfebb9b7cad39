"""The SDK runtime's `apps` namespace inside a real QuickJS guest, with the host functions replaced by
recorders (the kernel path is tests/kernel/sandbox/test_compose.py): what a call sends, what a provided
function answers, and every refusal as an AppCallError with its code."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmos.kernel.sandbox import wasmcache
from llmos.kernel.sandbox.callabi import CALL_TIMEOUT_MS, MAX_CALL_TIMEOUT_MS
from llmos.kernel.sandbox.guest import AppFault, Guest
from llmos.kernel.sandbox.limits import GuestLimits
from llmos.kernel.sandbox.transpile import transpile


@pytest.fixture(scope="module", autouse=True)
def compiled(tmp_path_factory):
    wasmcache.install(tmp_path_factory.mktemp("wasm"))


CALLER = """
import { ui, apps } from '@llm-os/sdk';
export default function App() {
  const [shown, setShown] = ui.useState('idle');
  const ask = (target: string, arg: any, options?: any) => () => apps.call(target, arg, options).then(
    (v: any) => setShown('ok ' + JSON.stringify(v)),
    (e: any) => setShown(e.name + ' ' + e.code + ' ' + e.message));
  return ui.Column([ui.Text(shown), ui.Text(typeof apps.call + ' ' + Object.isFrozen(apps)),
    ui.Button({ onClick: ask('callee/f', { a: [1, 'x', true, null] }, { timeoutMs: 10 ** 9 }) }, 'good'),
    ui.Button({ onClick: ask('callee/f', { when: new Date(0) }) }, 'date'),
    ui.Button({ onClick: ask('callee/f', [1, undefined]) }, 'hole'),
    ui.Button({ onClick: ask('callee/f', NaN) }, 'nan'),
    ui.Button({ onClick: ask('callee/f', (() => { const o: any = {}; o.o = o; return o; })()) }, 'cycle'),
    ui.Button({ onClick: ask('callee/g', 1) }, 'ungranted'),
    ui.Button({ onClick: ask('callee', 1) }, 'malformed'),
    ui.Button({ onClick: () => apps.provide('late', () => 1) }, 'provide'),
  ]);
}
"""


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.replies: list[tuple[Any, ...]] = []

    def functions(self, scopes: frozenset[str]) -> dict[str, Any]:
        fns: dict[str, Any] = {"log": lambda level, text: None,
                               "call_reply": lambda *a: self._record(self.replies, a)}
        if any(s.startswith("app:") for s in scopes):
            fns["app_call"] = lambda *a: self._record(self.calls, a)
        return fns

    @staticmethod
    def _record(into: list[tuple[Any, ...]], args: tuple[Any, ...]) -> None:
        into.append(args)


def start(source: str, scopes: tuple[str, ...]) -> tuple[Guest, Recorder]:
    recorder = Recorder()
    guest = Guest(frozenset(scopes), recorder.functions(frozenset(scopes)), GuestLimits())
    guest.load(transpile(source).code, 0)
    return guest, recorder


def press(guest: Guest, label: str) -> str:
    tree = guest.flush(1, force=True).tree
    assert tree is not None
    button = next(c for c in tree["children"] if isinstance(c, dict) and c["children"] == [label])
    guest.event(button["props"]["onClick"]["$handler"], [], 2)
    return shown(guest)


def shown(guest: Guest) -> str:
    tree = guest.flush(3, force=True).tree
    assert tree is not None
    return str(tree["children"][0]["children"][0])


def test_a_call_sends_json_text_and_settles_with_the_answer() -> None:
    guest, recorder = start(CALLER, ("ui:window", "app:callee/f"))
    assert press(guest, "good") == "idle"  # sent; nothing settles it yet
    [(ref, target, text, timeout)] = recorder.calls
    assert (target, timeout) == ("callee/f", MAX_CALL_TIMEOUT_MS)  # 10 ** 9 ms asked: the most allowed
    assert json.loads(text) == {"a": [1, "x", True, None]}
    guest.answer(ref, True, "", '{"sum": 2}', 4)
    assert shown(guest) == 'ok {"sum":2}'
    press(guest, "good")
    guest.answer(recorder.calls[-1][0], False, "timeout", "callee/f did not answer within 10 ms", 5)
    assert shown(guest) == "AppCallError timeout callee/f did not answer within 10 ms"
    guest.answer(recorder.calls[-1][0], True, "", "1", 6)  # a second answer to a settled call: nothing
    assert shown(guest).startswith("AppCallError timeout")
    assert CALL_TIMEOUT_MS < MAX_CALL_TIMEOUT_MS


@pytest.mark.parametrize(("button", "code", "why"), [
    ("date", "bad-argument", "not a plain object"), ("hole", "bad-argument", "holds undefined"),
    ("nan", "bad-argument", "NaN, which is not a JSON number"), ("cycle", "bad-argument", "refers to itself"),
    ("ungranted", "denied", "needs 'app:callee/g'"), ("malformed", "bad-argument", "'APP/FUNCTION'"),
])
def test_what_cannot_be_sent_is_refused_in_the_app_with_a_code(button: str, code: str, why: str) -> None:
    guest, recorder = start(CALLER, ("ui:window", "app:callee/f"))
    text = press(guest, button)
    assert text.startswith(f"AppCallError {code} ") and why in text, text
    assert recorder.calls == []  # nothing left the app


def test_without_an_app_grant_there_is_no_call_and_no_host_function() -> None:
    guest, recorder = start(CALLER, ("ui:window",))
    tree = guest.flush(1, force=True).tree
    assert tree is not None and tree["children"][1]["children"] == ["undefined true"]
    assert "app_call" not in recorder.functions(frozenset({"ui:window"}))


PROVIDER = """
import { ui, apps } from '@llm-os/sdk';
apps.provide('sum', (xs: any, call: any) =>
  ({ total: xs.reduce((a: number, b: number) => a + b, 0), by: call.from }));
apps.provide('later', (x: any) => Promise.resolve(x * 2));
apps.provide('rejects', () => Promise.reject(new RangeError('too big')));
apps.provide('undef', () => undefined);
apps.provide('map', () => new Map());
export default function App() { return ui.Text('p'); }
"""


def test_provided_functions_answer_through_call_reply() -> None:
    guest, recorder = start(PROVIDER, ("ui:window",))
    assert guest.provided() == ["sum", "later", "rejects", "undef", "map"]
    for call, name, args in [("1", "sum", "[1, 2, 3]"), ("2", "later", "21"), ("3", "rejects", "null"),
                             ("4", "undef", "null"), ("5", "map", "null"), ("6", "nope", "null")]:
        guest.invoke(call, name, args, "app-caller", 7)
    assert recorder.replies == [
        ("1", True, "", '{"total":6,"by":"app-caller"}'), ("2", True, "", "42"),
        ("3", False, "failed", "RangeError: too big"), ("4", True, "", "null"),
        ("5", False, "failed", "map returned a value that holds an object that is not a plain object or "
                               "array"),
        ("6", False, "no-such-function", "this app provides no function 'nope'"),
    ]


def test_functions_are_provided_while_the_app_loads_only() -> None:
    guest, _ = start(CALLER, ("ui:window", "app:callee/f"))
    with pytest.raises(AppFault, match=r"apps\.provide: offer functions at the top level"):
        press(guest, "provide")
    for source, message in [
        ("apps.provide('a b', () => 1);", "is not a function name"),
        ("apps.provide('f', 1);", "must be a function"),
        ("apps.provide('f', () => 1); apps.provide('f', () => 2);", "provided twice"),
    ]:
        with pytest.raises(AppFault, match=message):
            start("import { ui, apps } from '@llm-os/sdk';\n" + source +
                  "\nexport default function App() { return ui.Text('x'); }\n", ("ui:window",))
