"""The host checks a tree's depth itself, with the JS side's limit (64), and a forged tree of any
depth ends in a clear 'tree' fault: never a RecursionError, at load or in a handler."""

from __future__ import annotations

import asyncio

import pytest

from llmos.kernel.sandbox.guest import AppFault, Guest
from llmos.kernel.sandbox.limits import GuestLimits
from llmos.kernel.sandbox.manager import LaunchError
from llmos.kernel.sandbox.transpile import transpile

from .test_attacks import button


def forged(depth: int, at_load: bool = False) -> str:
    """An app whose render answer is replaced (through toJSON) by a chain `depth` Columns deep."""
    forge = f"""
    let node: any = {{ type: 'Text', props: {{}}, children: ['x'] }};
    for (let i = 0; i < {depth}; i++) node = {{ type: 'Column', props: {{}}, children: [node] }};
    (Object.prototype as any).toJSON = function () {{
      const self = this as any;
      return self.next !== undefined && self.tree !== undefined ? {{ tree: node, next: null }} : self;
    }};"""
    return f"""import {{ ui }} from '@llm-os/sdk';
{forge if at_load else ""}
export default function App() {{
  const [n, setN] = ui.useState<number>(0);
  const deep = () => {{ {"" if at_load else forge} setN(n + 1); }};
  return ui.Window({{ title: 'deep' }}, [ui.Button({{ onClick: deep }}, 'deep')]);
}}
"""


@pytest.mark.parametrize("depth", [65, 100, 450, 600])
def test_a_forged_deep_tree_is_a_tree_fault_in_process(depth: int) -> None:
    guest = Guest(frozenset({"ui:window"}), {}, GuestLimits())
    try:
        frame = guest.load(transpile(forged(depth)).code, 0)
        guest.event(button(frame.tree, "deep"), [], 1)
        with pytest.raises(AppFault) as fault:
            guest.flush(2)
        assert fault.value.kind == "tree"
        assert "deeper than 64" in fault.value.message
    finally:
        guest.close()


def test_the_deepest_tree_the_js_side_accepts_is_accepted_by_the_host() -> None:
    guest = Guest(frozenset({"ui:window"}), {}, GuestLimits())
    try:
        source = """import { ui } from '@llm-os/sdk';
export default function App() {
  let node: any = ui.Text({}, 'x');
  for (let i = 0; i < 63; i++) node = ui.Column({}, [node]);
  return ui.Window({ title: 'deep' }, [node]);
}
"""
        frame = guest.load(transpile(source).code, 0)
        depth, node = 0, frame.tree
        while node["children"] and isinstance(node["children"][0], dict):
            node, depth = node["children"][0], depth + 1
        assert depth == 64
    finally:
        guest.close()


def test_a_forged_deep_tree_fails_the_launch_with_a_tree_fault(make_kernel):
    async def scenario():
        async with make_kernel() as kernel:
            with pytest.raises(LaunchError) as error:
                token = kernel.authority.mint("deep", ["ui:window"])
                await kernel.manager.launch(forged(600, at_load=True), token)
            assert error.value.status["kind"] == "tree", error.value.status
    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_forged_deep_tree_in_a_handler_stops_the_app_with_a_tree_fault(make_kernel):
    async def scenario():
        async with make_kernel() as kernel:
            app = await kernel.manager.launch(forged(600), kernel.authority.mint("deep", ["ui:window"]))
            answer = await app.event(button((await app.tree())["tree"], "deep"))
            assert answer["state"] == "stopped"
            code, stopped = await app.wait()
            assert code == 1 and stopped["kind"] == "tree", stopped
    asyncio.run(asyncio.wait_for(scenario(), 60))
