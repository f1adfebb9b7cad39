"""The gate's second layer (issue 16, item 6): the common routes to the Function constructor and to
prototype tampering that an attack review found, and the two false results it reported.

The realm itself has no string-to-code path (tests/kernel/sandbox/test_realm.py); these rules make the gate
honest about the routes it can see in the source."""

from __future__ import annotations

import pytest

from llmos.kernel.analysis import analyse

SDK = "import { ui } from '@llm-os/sdk';\n"
APP = "\nexport default function App() { return ui.Window({ title: 'x' }, []); }\n"


def rules(code: str) -> list[str]:
    return analyse(SDK + code + APP, ["ui:window"]).rules()


CONSTRUCTOR_ROUTES = {
    "destructuring": "const { constructor: F } = () => 0;",
    "destructuring_shorthand": "const { constructor } = () => 0;",
    "destructuring_nested": "const { constructor: { constructor: F } } = {};",
    "destructuring_string_key": "const { 'constructor': F } = () => 0;",
    "destructuring_computed_key": "const { ['constr' + 'uctor']: F } = () => 0;",
    "destructuring_escaped_key": "const { constr\\u0075ctor: F } = () => 0;",
    "destructuring_param": "const grab = ({ constructor: F }: any) => F;",
    "destructuring_assignment": "let F: any; ({ constructor: F } = () => 0);",
    "reflect_get": "const F = Reflect.get(() => 0, 'constructor');",
    "reflect_get_folded": "const k = 'constr' + 'uctor'; const F = Reflect.get(() => 0, k);",
    "reflect_construct": "const F = Reflect.construct(Reflect.get(() => 0, 'constructor'), ['return 1']);",
    "descriptor": "const F = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(() => 0), 'constructor');",
    "escaped_key": "const F = (() => 0)['\\u0063onstructor'];",
    "hex_escaped_key": "const F = (() => 0)['\\x63onstructor'];",
    "template_key": "const F = (() => 0)[`constructor`];",
    "template_substitution_key": "const F = (() => 0)[`con${'struc'}tor`];",
    "template_constant_key": "const mid = 'struc'; const F = (() => 0)[`con${mid}tor`];",
    "string_raw_key": "const F = (() => 0)[String.raw`constructor`];",
    "split_reverse_join": "const F = (() => 0)['rotcurtsnoc'.split('').reverse().join('')];",
    "array_join": "const F = (() => 0)[['constr', 'uctor'].join('')];",
    "spread_reverse_join": "const F = (() => 0)[[...'rotcurtsnoc'].reverse().join('')];",
    "char_codes": "const F = (() => 0)[String.fromCharCode(99, 111, 110)];".replace(
        "99, 111, 110", "99,111,110,115,116,114,117,99,116,111,114"),
    "to_primitive": "const k = { [Symbol.toPrimitive]: () => 'constructor' }; const F = (() => 0)[k as any];",
    "json_reviver": ("let F: any; JSON.parse('{\"a\": 1}', function (key: string) { F = (() => 0)[('constr'"
                     " + 'uctor') as any]; return key; });"),
    "proxy": "const p: any = new Proxy({}, { get: (_t, k) => (() => 0 as any)[k] });"
             " const F = p.constructor;",
    "class_static_block": "let F: any; class K { static { F = this['constr' + 'uctor']; } }",
}


@pytest.mark.parametrize("code", CONSTRUCTOR_ROUTES.values(), ids=CONSTRUCTOR_ROUTES.keys())
def test_routes_to_the_function_constructor_are_rejected(code: str) -> None:
    assert "no-function-constructor" in rules(code)


PROTOTYPE_ROUTES = {
    "define_object_prototype": "Object.defineProperty(Object.prototype, 'then', { get() { return 1; } });",
    "define_via_alias": "const P = Object.prototype; Object.defineProperty(P, 'then', { value: 1 });",
    "define_on_get_prototype_of": "Object.defineProperty(Object.getPrototypeOf({}), 'x', { value: 1 });",
    "define_destructured": "const { defineProperty } = Object; defineProperty(Array.prototype, 'x', {});",
    "define_method_alias": "const dp = Object.defineProperty; dp(String.prototype, 'x', {});",
    "define_computed": "Object['defineProperty'](Object.prototype, 'x', {});",
    "define_sequence": "(0, Object.defineProperty)(Object.prototype, 'x', {});",
    "define_properties": "Reflect.defineProperty(Function.prototype, 'x', {});",
    "assign_via_alias": "const P: any = Array.prototype; P.map = () => [];",
    "assign_get_prototype_of": "(Object.getPrototypeOf([]) as any).map = () => [];",
    "delete_via_alias": "const P: any = Object.prototype; delete P.toString;",
    "set_prototype_of": "Object.setPrototypeOf({}, null);",
}


@pytest.mark.parametrize("code", PROTOTYPE_ROUTES.values(), ids=PROTOTYPE_ROUTES.keys())
def test_prototype_tampering_is_rejected(code: str) -> None:
    assert "no-prototype-tampering" in rules(code)


LEGITIMATE = {
    "new_target": "function Point(this: any) { if (!new.target) throw new Error('use new'); }",
    "class_constructor": "class A { constructor(public n: number) {} }",
    "object_key_named_constructor_method": "class B { constructor() {} static make() { return new B(); } }",
    "own_prototype_read": "const items = [3, 1, 2]; const sorted = Array.prototype.slice.call(items).sort();",
    "define_on_own_object": "const o = {}; Object.defineProperty(o, 'x', { value: 1 });",
    "split_join_text": "const words = 'a b c'.split(' ').reverse().join(', ');",
    "template_text": "const n = 3; const s = `count ${n} of constructors`;",
}


@pytest.mark.parametrize("code", LEGITIMATE.values(), ids=LEGITIMATE.keys())
def test_legitimate_code_still_passes(code: str) -> None:
    assert rules(code) == []


def test_new_target_is_not_a_dynamic_import() -> None:
    report = analyse(SDK + "function F() { return new.target; }" + APP, ["ui:window"])
    assert "no-dynamic-import" not in report.rules()
    assert analyse(SDK + "const u = import.meta.url;" + APP, ["ui:window"]).rules() == ["no-dynamic-import"]


def test_folding_is_bounded() -> None:
    """Doubling constants must not build a gigabyte string while folding."""
    lines = ["const a0 = 'xy';"] + [f"const a{i} = a{i - 1} + a{i - 1};" for i in range(1, 40)]
    assert analyse(SDK + "\n".join(lines) + APP, ["ui:window"]).ok

