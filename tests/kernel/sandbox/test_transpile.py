"""The type stripper: output is valid JS that QuickJS runs, lines are kept, bad input is located."""

from __future__ import annotations

import pytest
import quickjs_rs

from llmos.kernel.sandbox.transpile import TranspileError, transpile

TYPED = """import { ui, storage as store, type Foo } from '@llm-os/sdk';
import type { Bar } from '@llm-os/sdk';
interface Point { x: number; y: number }
type Pair<T> = [T, T];
export type Alias = Pair<string>;
export const SCALE: number = 3;
declare const injected: string;
abstract class Shape implements Point { x = 0; y = 0; abstract area(): number; }
class Square extends Shape {
  private side: number = 2; readonly name?: string; area(): number { return this.side ** 2; }
}
function pick(a: string): string;
function pick(a: any): any { return a; }
export default function App<T extends object>(opt?: number, label: string = 'a'): unknown {
  const n = (opt as number) ?? 1;
  let later!: number;
  later = n satisfies number;
  const box = <any>{ v: later };
  const id = <X,>(v: X): X => v;
  const value = store!.value;
  return [ui, value, id(box.v) * SCALE, new Square().area(), pick(label)];
}
"""


def run(code: str, sdk: str = "({ ui: 'UI', storage: { value: 'S' } })"):
    runtime = quickjs_rs.Runtime()
    try:
        context = runtime.new_context()
        return context.eval(f"({code})({sdk})(2)")
    finally:
        runtime.close()


def test_types_are_erased_and_the_module_runs():
    out = transpile(TYPED)
    assert out.default_name == "App"
    for gone in ("interface", "Pair<", ": number", " as ", "satisfies", "abstract", "implements",
                 "private", "readonly", "declare", "<any>", "import"):
        assert gone not in out.code, gone
    assert run(out.code) == ["UI", "S", 6, 4, "a"]


def test_lines_are_preserved_for_error_locations():
    source = ("import { ui } from '@llm-os/sdk';\ntype A = number;\n\n"
              "export default function App(): A {\n  throw new Error('boom');\n}\n")
    code = transpile(source).code
    assert code.splitlines()[4].strip() == "throw new Error('boom');"


def test_default_export_forms():
    assert run(transpile("export default (n: number) => 40 + n;").code) == 42
    anonymous = transpile("export default function () { return 7; }")
    assert anonymous.default_name == "__default"
    runtime = quickjs_rs.Runtime()
    assert runtime.new_context().eval(f"({anonymous.code})({{}})()") == 7
    runtime.close()
    namespace = transpile("import * as sdk from '@llm-os/sdk';\n"
                          "export default function A() { return sdk.x; }")
    runtime = quickjs_rs.Runtime()
    assert runtime.new_context().eval(f"({namespace.code})({{x: 5}})()") == 5
    runtime.close()


@pytest.mark.parametrize(("source", "message", "line"), [
    ("import fs from 'fs';\nexport default function App() {}", "only '@llm-os/sdk'", 1),
    ("import { ui } from '@llm-os/sdk';\nfunction App() {}", "export default", 1),
    ("export default function App() {\n  enum Color { Red }\n}", "enums", 2),
    ("export default function App() {\n  const x = ;\n}", "syntax error", 2),
    ("class A { constructor(private x: number) {} }\nexport default A;", "parameter properties", 1),
    ("import sdk from '@llm-os/sdk';\nexport default function App() {}", "no default export", 1),
])
def test_bad_input_gets_a_located_error(source, message, line):
    with pytest.raises(TranspileError) as error:
        transpile(source, "bad.ts")
    assert message in str(error.value)
    assert error.value.line == line
    assert str(error.value).startswith("bad.ts")


def test_output_is_deterministic():
    assert transpile(TYPED).code == transpile(TYPED).code
