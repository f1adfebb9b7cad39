"""The SDK runtime inside a real QuickJS guest. The kernel is replaced by in-memory host functions
here (the kernel path is covered end to end in tests/kernel/sandbox); what is tested is the JS runtime."""

from __future__ import annotations

import json

import pytest

from llmos.kernel.sandbox import wasmcache
from llmos.kernel.sandbox.guest import AppFault, Guest
from llmos.kernel.sandbox.limits import GuestLimits
from llmos.kernel.sandbox.transpile import transpile


@pytest.fixture(scope="module", autouse=True)
def compiled(tmp_path_factory):
    wasmcache.install(tmp_path_factory.mktemp("wasm"))


class FakeKernel:
    def __init__(self):
        self.store: dict[str, str] = {}
        self.notes: list[tuple[str, str]] = []
        self.published: list[tuple[str, str]] = []

    def functions(self, scopes):
        """As the app host's: each answers with its value (kernel/sandbox/hostfn.py)."""
        fns = {"log": lambda level, text: None}
        if "storage:local" in scopes:
            fns["storage_get"] = lambda key: self.store.get(key)
            fns["storage_set"] = lambda key, value: self.store.__setitem__(key, value)
            fns["storage_delete"] = lambda key: self.store.pop(key, None) and None
            fns["storage_keys"] = lambda: sorted(self.store)
        if "notify" in scopes:
            fns["notify"] = lambda text, opts: self.notes.append((text, opts))
        if "bus:chat" in scopes:
            fns["bus_publish"] = lambda channel, message: self.published.append((channel, message))
            fns["bus_subscribe"] = lambda channel: None
        return fns


def start(source: str, scopes=("ui:window",), limits=None):
    kernel = FakeKernel()
    guest = Guest(frozenset(scopes), kernel.functions(scopes), limits or GuestLimits())
    frame = guest.load(transpile(source).code, 0)
    return guest, kernel, frame


def handlers(tree, out=None):
    out = {} if out is None else out
    if isinstance(tree, dict):
        for key, value in tree["props"].items():
            if isinstance(value, dict) and "$handler" in value:
                out.setdefault(f"{tree['type']}.{key}", value["$handler"])
        for child in tree["children"]:
            handlers(child, out)
    return out


COUNTER = """
import { ui } from '@llm-os/sdk';
export default function App() {
  const [n, setN] = ui.useState(0);
  const [name, setName] = ui.useState(() => 'x');
  return ui.Column({ gap: 4 }, [
    ui.Text(`${name}${n}`),
    n > 1 && ui.Text('big'),
    null,
    ui.Button({ onClick: () => setN((v: number) => v + 1) }, 'inc'),
    ui.TextInput({ value: name, onChange: setName }),
    ui.Canvas({ width: 10, height: 10, commands: [['fillRect', 0, 0, 5, 5, '#ff0000']] }),
    3,
  ]);
}
"""


def test_state_hooks_events_and_tree_shape():
    guest, _, frame = start(COUNTER)
    tree = frame.tree
    assert tree["type"] == "Column" and tree["props"] == {"gap": 4}
    assert tree["children"][0] == {"type": "Text", "props": {}, "children": ["x0"]}
    assert tree["children"][-1] == 3  # numbers stay numbers; null/false children are dropped
    assert [c["type"] for c in tree["children"][:-1]] == ["Text", "Button", "TextInput", "Canvas"]
    assert tree["children"][3]["props"]["commands"] == [["fillRect", 0, 0, 5, 5, "#ff0000"]]
    ids = handlers(tree)
    assert guest.event(ids["Button.onClick"], [], 1)
    assert guest.flush(1).tree["children"][0]["children"] == ["x1"]
    # Unchanged state: no new tree.
    assert guest.flush(2).tree is None
    assert guest.event(handlers(guest.flush(3, force=True).tree)["Button.onClick"], [], 4)
    tree = guest.flush(4).tree
    assert tree["children"][1]["children"] == ["big"]
    # Handler ids from an older tree are ignored.
    assert not guest.event(ids["Button.onClick"], [], 5)
    assert guest.event(handlers(tree)["TextInput.onChange"], ["hello"], 6)
    assert guest.flush(6).tree["children"][0]["children"] == ["hello2"]


def test_storage_use_local_persists_through_the_host():
    source = """
    import { ui, storage } from '@llm-os/sdk';
    export default function App() {
      const [items, setItems] = storage.useLocal<string[]>('items', []);
      return ui.List({ items, onSelect: (i: number) => setItems(items.filter((_, j) => j !== i)) },
                     [ui.Button({ onClick: () => setItems([...items, 'n' + items.length]) }, 'add')]);
    }"""
    guest, kernel, frame = start(source, ("ui:window", "storage:local"))
    assert frame.tree["props"]["items"] == []
    guest.event(handlers(frame.tree)["Button.onClick"], [], 1)
    tree = guest.flush(1).tree
    assert tree["props"]["items"] == ["n0"] and json.loads(kernel.store["items"]) == ["n0"]
    guest.event(handlers(tree)["List.onSelect"], [0], 2)
    assert guest.flush(2).tree["props"]["items"] == [] and kernel.store["items"] == "[]"


def test_timers_follow_the_host_clock():
    source = """
    import { ui, timer } from '@llm-os/sdk';
    export default function App() {
      const [fired, setFired] = ui.useState(0);
      const t = timer.useInterval(() => setFired((f: number) => f + 1), 3000);
      const once = timer.useTimeout(() => setFired((f: number) => f + 100), 5000);
      return ui.Row([ui.Text(t.remaining), ui.Text(String(fired)), ui.Text(String(t.running)),
                     ui.Text(String(once.pending)), ui.Button({ onClick: t.toggle }, 'go'),
                     ui.Button({ onClick: t.reset }, 'reset')]);
    }"""
    guest, _, frame = start(source, ("ui:window", "timer"))
    texts = lambda tree: [c["children"][0] for c in tree["children"] if c["type"] == "Text"]  # noqa: E731
    assert texts(frame.tree) == ["00:03", "0", "false", "true"]
    assert frame.next_ms == 5000  # only the timeout is armed
    guest.event(handlers(frame.tree)["Button.onClick"], [], 0)  # the first Button: toggle
    frame = guest.flush(0)
    assert texts(frame.tree)[2] == "true" and frame.next_ms == 1000
    guest.tick(1000)
    assert texts(guest.flush(1000).tree)[0] == "00:02"
    guest.tick(3000)
    frame = guest.flush(3000)
    assert texts(frame.tree)[:2] == ["00:03", "1"]  # fired once and restarted
    guest.tick(5000)
    assert texts(guest.flush(5000).tree)[1:4] == ["101", "true", "false"]


def test_ungranted_namespaces_exist_but_are_empty():
    source = """
    import { ui, net, storage, timer, clipboard, bus, caps } from '@llm-os/sdk';
    export default function App() {
      return ui.Text(JSON.stringify([Object.keys(net), Object.keys(storage), Object.keys(timer),
        Object.keys(clipboard), Object.keys(bus), caps.list(), caps.has('notify'),
        typeof (ui as any).notify]));
    }"""
    _, _, frame = start(source, ("ui:window",))
    assert json.loads(frame.tree["children"][0]) == [[], [], [], [], [], ["ui:window"], False, "undefined"]


def test_hook_order_change_and_hooks_outside_render_are_errors():
    source = """
    import { ui, timer } from '@llm-os/sdk';
    let flip = false;
    export default function App() {
      flip = !flip;
      if (flip) timer.useTimeout(() => {}, 1000);
      const [n, setN] = ui.useState(0);
      return ui.Button({ onClick: () => setN(n + 1) }, 'x');
    }"""
    guest, _, frame = start(source, ("ui:window", "timer"))
    guest.event(handlers(frame.tree)["Button.onClick"], [], 1)
    with pytest.raises(AppFault) as fault:
        guest.flush(1)
    assert fault.value.kind == "render" and "hook order changed" in fault.value.message
    assert guest.dead is not None


def test_handler_exception_is_reported_but_not_fatal():
    source = """
    import { ui } from '@llm-os/sdk';
    export default function App() {
      return ui.Button({ onClick: () => { throw new TypeError('oops'); } }, 'x');
    }"""
    guest, _, frame = start(source)
    with pytest.raises(AppFault) as fault:
        guest.event(handlers(frame.tree)["Button.onClick"], [], 1)
    assert fault.value.kind == "error" and not fault.value.fatal and "TypeError: oops" in fault.value.message
    assert guest.flush(2).tree is None  # still alive


def test_tree_cap_and_non_node_children():
    head = "import { ui } from '@llm-os/sdk';\n"
    many = head + "export default () => ui.Column(Array.from({length: 50}, () => ui.Text('.')));"
    with pytest.raises(AppFault) as fault:
        start(many, limits=GuestLimits(max_nodes=20))
    assert fault.value.kind == "tree"
    bad = head + "export default () => ui.Column([{ type: 'Button', props: {}, children: [] }]);"
    with pytest.raises(AppFault) as fault:
        start(bad)
    assert "not a ui.* node" in fault.value.message


def test_bus_and_notify_reach_the_host():
    source = """
    import { ui, bus } from '@llm-os/sdk';
    export default function App() {
      const [got, setGot] = ui.useState('none');
      bus.useSubscription('chat', (m: any, from: string) => setGot(from + ':' + m.text));
      ui.notify('hi', { sound: false });
      return ui.Button({ onClick: () => bus.publish('chat', { text: 'yo' }) }, got);
    }"""
    guest, kernel, frame = start(source, ("ui:window", "bus:chat", "notify"))
    assert kernel.notes == [("hi", '{"sound":false}')]
    guest.event(handlers(frame.tree)["Button.onClick"], [], 1)
    assert kernel.published == [("chat", '{"text":"yo"}')]
    guest.deliver("chat", '{"text":"back"}', "other", 2)
    assert guest.flush(2).tree["children"] == ["other:back"]
