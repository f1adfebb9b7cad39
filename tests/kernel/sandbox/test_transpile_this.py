"""TypeScript `this:` parameters are type syntax and must be erased (issue 16, item 6): before the fix,
`function f(this: T, x)` became `function f(this, x)`, which is not JavaScript, so valid code failed
to load."""

from __future__ import annotations

import pytest

from llmos.kernel.analysis import analyse
from llmos.kernel.sandbox import wasmcache
from llmos.kernel.sandbox.guest import Guest
from llmos.kernel.sandbox.transpile import transpile

SOURCE = """import { ui } from '@llm-os/sdk';
function label(this: { n: number }, prefix: string): string { return prefix + this.n; }
function bare(this: void) { return 1; }
const f = function (this: any, x = 2) { return x; };
class Box { size(this: Box, by: number): number { return by; } }
type Handler = (this: Window, e: number) => void;
export default function App() {
  return ui.Window({ title: label.call({ n: bare() + f() + new Box().size(0) }, 'n=') }, []);
}
"""


@pytest.fixture(scope="module", autouse=True)
def compiled(tmp_path_factory):
    wasmcache.install(tmp_path_factory.mktemp("wasm"))


def test_this_parameters_are_erased_and_the_app_runs() -> None:
    assert analyse(SOURCE, ["ui:window"]).ok
    code = transpile(SOURCE).code
    assert "this:" not in code and "(this" not in code
    guest = Guest(frozenset({"ui:window"}), {})
    try:
        tree = guest.load(code, 0).tree
    finally:
        guest.close()
    assert tree is not None and tree["props"]["title"] == "n=3"


def test_erasing_keeps_lines() -> None:
    code = transpile(SOURCE).code
    assert code.count("\n") == transpile(SOURCE.replace("this: { n: number }, ", "")).code.count("\n")
