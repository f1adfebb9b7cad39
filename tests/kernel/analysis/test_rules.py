"""Targeted rule behaviour that the corpus files do not pin down: columns on non-ASCII lines, scopes
inferred from SDK use, and things that must NOT be flagged. (Manifests, policy and plain words are
kernel.caps's: tests/kernel/caps.)"""

from __future__ import annotations

import pytest

from llmos.kernel.analysis import analyse

SDK = "import { ui, net, storage } from '@llm-os/sdk';\n"


def rules(code: str, manifest=None) -> list[str]:
    return [f"{f.rule}@{f.line}:{f.col}" for f in analyse(code, manifest).findings]


def test_columns_count_characters_not_bytes() -> None:
    # byte column would be 28: two 2-byte characters precede eval
    assert rules(SDK + "const s = 'héllo wörld'; eval(s);") == ["no-eval@2:26"]


def test_class_constructor_and_plain_members_are_fine() -> None:
    code = SDK + "class A { constructor(public n: number) {} }\nconst m = new Map(); m.set('a', [1][0]);\n"
    assert rules(code) == []


def test_aliasing_sdk_objects_is_tracked() -> None:
    code = SDK + "const n = net;\nn.fetch('https://a.example/x');\nconst { useLocal } = storage;\n"
    report = analyse(code, ["ui:window"])
    assert sorted(report.capabilities) == ["network:a.example", "storage:local"]
    assert report.rules() == ["undeclared-capability"]


def test_dynamic_host_needs_some_network_capability() -> None:
    code = SDK + "export function go(url: string) { return net.fetch(url); }\n"
    assert rules(code, ["network:api.example.com"]) == []
    assert rules(code, ["ui:window"]) == ["undeclared-capability@2:42"]


def test_string_timer_with_a_function_is_fine() -> None:
    assert rules(SDK + "setTimeout(() => 1, 10); setInterval(tick, 5);\nfunction tick() {}\n") == []


def test_timer_with_folded_constant_string_is_rejected() -> None:
    assert rules(SDK + "const code = 'alert' + '(1)';\nsetTimeout(code, 1);\n") == ["no-string-timer@3:12"]


def test_scopes_follow_the_table() -> None:
    code = ("import { ui, net, bus, clipboard, caps } from '@llm-os/sdk';\n"
            "ui.notify('hi'); ui.Text('x'); clipboard.read(); caps.has('timer');\n"
            "net.fetch(`https://h.example/${q}`); bus.publish('chat', 1); bus.subscribe(room, f);\n")
    assert sorted(analyse(code).capabilities) == ["bus:*", "bus:chat", "clipboard:read", "network:h.example",
                                                  "notify", "ui:window"]
    # a member the SDK does not have needs nothing here (it is undefined at run time); the gateway's
    # usage reader refuses it
    assert analyse("import { clipboard } from '@llm-os/sdk';\nclipboard.readText();").capabilities == {}


def test_binary_and_empty_input_do_not_crash() -> None:
    assert analyse("").ok
    assert not analyse("\x00\x01\x02 garbage ))").ok


# Routes to a string-to-code constructor that the corpus files do not spell out; the realm refuses
# each at run time as well (tests/kernel/sandbox/test_realm.py), so the gate is one of two walls.
CTOR, GLOBAL, TAMPER = "no-function-constructor", "no-global-object", "no-prototype-tampering"
ESCAPES: dict[str, tuple[str, str]] = {
    "species": ("class E extends Array { static get [Symbol.species]() { return Function; } }\n"
                "new E().map(() => 'return this');\n", CTOR),
    "tagged_template": ("const F = (() => 0).constructor;\nF`return this```;\n", CTOR),
    "json_reviver": ("JSON.parse('{}', function () { return (this as any).constructor; });\n", CTOR),
    "bound_call": ("const c = Function.prototype.call.bind(Function.prototype.constructor);\n"
                   "c(null, 'return this')();\n", CTOR),
    "optional_chain": ("const F = (() => 0)?.['constructor'];\nF?.('return this')();\n", CTOR),
    "joined_key": ("const k = ['con', 'structor'].join('');\n({} as any)[k][k]('x')();\n", CTOR),
    "class_heritage": ("class X extends (class {}).constructor {}\n", CTOR),
    "proxy_to_global": ("const p = new Proxy({}, { get: (t, k) => (globalThis as any)[k] });\n"
                        "(p as any).eval('1');\n", GLOBAL),
    "stack_hook": ("(Error as any).prepareStackTrace = (e: any, s: any) => s[0].getThis();\n", TAMPER),
}


@pytest.mark.parametrize(("code", "rule"), ESCAPES.values(), ids=ESCAPES.keys())
def test_other_routes_to_code_from_strings_are_found(code: str, rule: str) -> None:
    report = analyse(SDK + code)
    assert not report.ok
    assert rule in report.rules(), report.rules()
