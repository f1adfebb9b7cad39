"""The app's QuickJS realm has no way to turn a string into code (issue 16, item 6).

Every construction an attack review used to reach the Function constructor (and eval) is tried here,
inside a real guest, without the static gate in front. Each attack builds code that would set a marker on
globalThis; the marker must stay unset and the app must get a clear exception naming the reason."""

from __future__ import annotations

import pytest

from llmos.kernel.sandbox import wasmcache
from llmos.kernel.sandbox.guest import AppFault, Guest
from llmos.kernel.sandbox.transpile import transpile

REASON = "code built from strings"

# Each body must run the code it builds (call the function, step the generator).
ATTACKS: dict[str, str] = {
    "eval_direct": "eval(CODE);",
    "eval_indirect": "(0, eval)(CODE);",
    "eval_global_folded": "globalThis['ev' + 'al'](CODE);",
    "eval_descriptor": "Object.getOwnPropertyDescriptor(globalThis, 'eval').value(CODE);",
    "function_call": "Function(CODE)();",
    "function_new": "new Function(CODE)();",
    "function_call_method": "Function.call(null, CODE)();",
    "function_member": "(function () {}).constructor(CODE)();",
    "arrow_member": "(() => 0).constructor(CODE)();",
    "class_member": "(class {}).constructor(CODE)();",
    "bound_member": "(() => 0).bind(null).constructor(CODE)();",
    "sdk_member": "ui.Window.constructor(CODE)();",
    "object_ctor_ctor": "({}).constructor.constructor(CODE)();",
    "error_ctor_ctor": "new Error('x').constructor.constructor(CODE)();",
    "prototype_of": "Object.getPrototypeOf(() => 0).constructor(CODE)();",
    "descriptor": "Object.getOwnPropertyDescriptor(Function.prototype, 'constructor').value(CODE)();",
    "async_function": "(async function () {}).constructor(CODE)();",
    "async_arrow": "(async () => 0).constructor(CODE)();",
    "async_prototype": "Object.getPrototypeOf(async function () {}).constructor(CODE)();",
    "generator": "Object.getPrototypeOf(function* () {}).constructor(CODE)().next();",
    "generator_member": "(function* () {}).constructor(CODE)().next();",
    "async_generator": "Object.getPrototypeOf(async function* () {}).constructor(CODE)().next();",
    "reflect_get": "Reflect.get(() => 0, 'constructor')(CODE)();",
    "reflect_construct": "Reflect.construct(Reflect.get(() => 0, 'constructor'), [CODE])();",
    "reflect_apply": "Reflect.apply((() => 0).constructor, null, [CODE])();",
    "destructuring": "const { constructor: F } = () => 0; F(CODE)();",
    "destructuring_nested": "const { constructor: { constructor: F } } = {}; F(CODE)();",
    "destructuring_param": "(({ constructor: F }) => F(CODE)())(() => 0);",
    "escaped_key": "(() => 0)['\\u0063onstructor'](CODE)();",
    "hex_escaped_key": "(() => 0)['\\x63onstructor'](CODE)();",
    "template_key": "(() => 0)[`constructor`](CODE)();",
    "template_substitution_key": "(() => 0)[`con${'struc'}tor`](CODE)();",
    "runtime_key": "const k = 'rotcurtsnoc'.split('').reverse().join(''); (() => 0)[k](CODE)();",
    "string_raw_key": "(() => 0)[String.raw`constructor`](CODE)();",
    "char_code_key": "(() => 0)[String.fromCharCode(99,111,110,115,116,114,117,99,116,111,114)](CODE)();",
    "to_primitive_key": "const k = { [Symbol.toPrimitive]: () => 'constructor' }; (() => 0)[k](CODE)();",
    "to_string_key": "const k = { toString: () => 'constructor' }; (() => 0)[k](CODE)();",
    "json_reviver_key": ("let F; JSON.parse('{\"constructor\": 1}', function (key, value) {"
                         " if (key) F = (() => 0)[key]; return value; }); F(CODE)();"),
    "proxy_trap": ("const p = new Proxy({}, { get: (_t, key) => (() => 0)[key] });"
                   " p.constructor(CODE)();"),
    "proxy_target": "new Proxy(() => 0, {}).constructor(CODE)();",
    "class_static_block": "let F; class K { static { F = this.constructor; } } F(CODE)();",
    "class_extends_function": "class G extends Function {} new G(CODE)();",
    "class_extends_async": ("class G extends (async function () {}).constructor {}"
                            " new G(CODE)();"),
    "getter": "const o = { get f() { return (() => 0).constructor; } }; o.f(CODE)();",
    "iterator_ctor": "Iterator.constructor(CODE)();",
    "typed_array_ctor": "Object.getPrototypeOf(Uint8Array).constructor(CODE)();",
    "global_descriptors": ("Object.values(Object.getOwnPropertyDescriptors(globalThis)).forEach((d) => {"
                           " if (d.value && d.value.name === 'eval') d.value(CODE); });"),
    "bound_call": "Function.prototype.call.bind(Function.prototype.constructor)(null, CODE)();",
    "tagged_template": "(() => 0).constructor`${CODE}```;",
    "species": ("class E extends Array { static get [Symbol.species]() { return Function; } }"
                " new E(1).map(() => CODE);"),
    "regexp_symbol": "const r = /x/; r[Symbol.replace] = (() => 0).constructor; 'x'.replace(r, CODE)();",
    "array_from_mapper": "Array.from([CODE], (() => 0).constructor)[0]();",
    "date_ctor_ctor": "new Date().constructor.constructor(CODE)();",
    "symbol_ctor": "Symbol.constructor(CODE)();",
}

CODE = "globalThis.__pwned = 'ran'"

APP = """
import {{ ui }} from '@llm-os/sdk';
const CODE = {code!r};
function attempt() {{
  try {{
    {body}
  }} catch (e) {{
    return String(e);
  }}
  return 'no error';
}}
export default function App() {{
  const outcome = attempt();
  return ui.Window({{ title: 'attack' }}, [ui.Text(String(globalThis.__pwned)), ui.Text(outcome)]);
}}
"""


@pytest.fixture(scope="module", autouse=True)
def compiled(tmp_path_factory):
    wasmcache.install(tmp_path_factory.mktemp("wasm"))


def texts(tree) -> list[str]:
    return [child["children"][0] for child in tree["children"]]


def outcome(body: str) -> tuple[str, str]:
    """(marker, what the attempt reported) after load, after the queued jobs and a second render."""
    guest = Guest(frozenset({"ui:window"}), {})
    try:
        guest.load(transpile(APP.format(code=CODE, body=body)).code, 0)
        frame = guest.flush(1, force=True)
        assert frame.tree is not None
        marker, said = texts(frame.tree)
        return marker, said
    finally:
        guest.close()


@pytest.mark.parametrize("body", ATTACKS.values(), ids=ATTACKS.keys())
def test_no_string_becomes_code(body: str) -> None:
    marker, said = outcome(body)
    assert marker == "undefined", f"the string ran as code: {said}"
    assert REASON in said, said


@pytest.mark.parametrize("body", ["(function () { return this; })().eval(CODE);",
                                  "(function () { return this; })().Function(CODE)();"])
def test_a_function_called_bare_gets_no_global_object(body: str) -> None:
    """App code is strict: `this` in a plain call is undefined, not a way around the names the static
    gate watches ("globalThis", "eval")."""
    marker, said = outcome(body)
    assert marker == "undefined"
    assert "of undefined" in said, said


def test_the_realm_keeps_its_ordinary_function_behaviour() -> None:
    body = ("const f = () => 0;"
            " if (f.constructor !== Function) throw new Error('constructor identity');"
            " if (!(f instanceof Function)) throw new Error('instanceof');"
            " if (Function.prototype.call.call((x) => x + 1, null, 1) !== 2) throw new Error('call');"
            " if (typeof eval !== 'function') throw new Error('eval stub');"
            " if (Object.getPrototypeOf(async function () {}).constructor.prototype"
            "     !== Object.getPrototypeOf(async function () {})) throw new Error('async prototype');"
            " return 'fine';")
    assert outcome(body) == ("undefined", "fine")


@pytest.mark.parametrize("body", [
    "Object.defineProperty(Function.prototype, 'constructor', { value: () => 1 });",
    "delete Function.prototype.constructor;",
    "Function.prototype.constructor = () => 1;",
    "Object.defineProperty(Object.getPrototypeOf(function* () {}), 'constructor', { value: 1 });",
    "delete Object.getPrototypeOf(async function () {}).constructor;",
    "globalThis.eval = (s) => s;",
    "delete globalThis.Function;",
    "Object.defineProperty(globalThis, 'eval', { value: 1 });",
], ids=["define", "delete", "assign", "define_generator", "delete_async", "assign_eval", "delete_function",
        "define_eval"])
def test_the_stubs_can_not_be_replaced(body: str) -> None:
    _, said = outcome(body + " return 'replaced';")
    assert said.startswith("TypeError"), said


def test_an_uncaught_attempt_stops_the_load_with_the_reason() -> None:
    guest = Guest(frozenset({"ui:window"}), {})
    source = ("import { ui } from '@llm-os/sdk';\n"
              "const run = (() => 0).constructor('return 1');\n"
              "export default function App() {\n"
              "  return ui.Window({ title: 'x' }, [ui.Text(String(run()))]);\n}\n")
    try:
        with pytest.raises(AppFault) as fault:
            guest.load(transpile(source).code, 0)
    finally:
        guest.close()
    assert fault.value.kind == "load" and REASON in fault.value.message


def test_dynamic_import_loads_nothing() -> None:
    body = ("import('data:text/javascript,globalThis.__pwned=1').then(() => 0, () => 0);"
            " return 'asked';")
    marker, _ = outcome(body)
    assert marker == "undefined"
