"""Issue 13 in the booted image: the machine follows registries served by real git servers on the host
(Debian's `git http-backend` and `git daemon`, tests/kernel/registry/gitserver.py), reached through QEMU's
user network at 10.0.2.2. A publisher the user trusts shares an app over smart HTTP; a stranger shares
one over git://. `llmos app trust/remote/pull` run in the guest; the trusted app runs, the stranger's is
kept apart and refused without the extra confirmation. Every wait is scaled to this machine's speed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kernel.registry.gitserver import bare, git_daemon, git_http
from waiting import wait_for as wait_until

from llmos.host.vm import VirtualMachine
from llmos.kernel.registry import Registry

from .guest import ipc
from .hostnet import HOST
from .pace import scaled

TRUSTED_TITLE = "Hub Counter"
TRUSTED_PROMPT = "A counter the office hub shares with every machine"
TRUSTED_CODE = """import { ui, storage } from '@llm-os/sdk';

export default function App() {
  const [count, setCount] = storage.useLocal('count', 0);
  return ui.Window({ title: 'Hub Counter', padding: 16, gap: 12 }, [
    ui.Text({ size: 'xl', bold: true }, count),
    ui.Button({ onClick: () => setCount(count + 1) }, '+1'),
  ]);
}
"""
STRANGER_PROMPT = "A greeting card from someone nobody here knows"
STRANGER_CODE = """import { ui } from '@llm-os/sdk';

export default function App() {
  return ui.Window({ title: 'Stranger Card', padding: 16 }, [ui.Text({}, 'hello from a stranger')]);
}
"""
PULL_S = 60.0  # one `llmos app pull` of a one-app remote, at the reference speed


@dataclass(frozen=True)
class Served:
    hub: str  # the publisher's registry over smart HTTP, as the guest reaches it
    strangers: str  # the stranger's registry over git://
    trusted_hash: str
    stranger_hash: str
    publisher_pem: bytes


def published(root: Path, prompt: str, code: str, scopes: list[str]) -> tuple[Registry, str]:
    """A machine's registry (its own state directory and key) with one app, pushed to a new bare repository
    `root`.git."""
    registry = Registry(root)
    digest = registry.add(prompt, code, "hand-written", scopes).codeHash
    registry.remote_add("origin", str(bare(root.with_suffix(".git"))))
    registry.push("origin")
    return registry, digest


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    srv = tmp_path / "srv"
    srv.mkdir()
    publisher, trusted = published(srv / "hub", TRUSTED_PROMPT, TRUSTED_CODE, ["ui:window", "storage:local"])
    stranger, unknown = published(srv / "strangers", STRANGER_PROMPT, STRANGER_CODE, ["ui:window"])
    with ExitStack() as stack:
        for registry in (publisher, stranger):
            stack.callback(registry.close)
        http = stack.enter_context(git_http(srv)).replace("127.0.0.1", HOST)
        git = stack.enter_context(git_daemon(srv)).replace("127.0.0.1", HOST)
        yield Served(f"{http}/hub.git", f"{git}/strangers.git", trusted, unknown, publisher.key.public_pem())


def app_cli(machine: VirtualMachine, *argv: str, timeout: float = 30.0) -> str:
    return machine.run(["llmos", "app", *argv], timeout=scaled(timeout)).stdout


def refusal(machine: VirtualMachine, method: str, **params: Any) -> str:
    """The kernel's error for a call that must be refused (the message a client gets)."""
    code = ("import json, sys; from llmos import ipc, paths; params = json.loads(sys.argv[1]); "
            f"print(json.dumps(ipc.call(paths.socket_path('kernel'), {method!r}, **params)))")
    result = machine.run(["python3", "-c", code, json.dumps(params)], check=False)
    assert result.returncode != 0, f"{method} was not refused: {result.stdout}"
    return result.stderr


def test_a_pulled_trusted_app_runs_and_a_strangers_is_kept_apart(networked: VirtualMachine,
                                                                  served: Served) -> None:
    machine = networked
    machine.run(["python3", "-c", "import sys; open('/tmp/hub.pem', 'wb').write(sys.stdin.buffer.read())"],
                input=served.publisher_pem.decode())
    assert "trusting hub-publisher" in app_cli(machine, "trust", "add", "hub-publisher", "/tmp/hub.pem")
    app_cli(machine, "remote", "add", "hub", served.hub)
    app_cli(machine, "remote", "add", "strangers", served.strangers)

    hub = json.loads(app_cli(machine, "pull", "hub", "--json", timeout=PULL_S))
    assert (list(hub["new_apps"]), list(hub["untrusted"])) == ([served.trusted_hash], []), hub
    strangers = json.loads(app_cli(machine, "pull", "strangers", "--json", timeout=PULL_S))
    assert list(strangers["new_apps"]) == list(strangers["untrusted"]) == [served.stranger_hash], strangers
    assert json.loads(app_cli(machine, "pull", "hub", "--json", timeout=PULL_S))["up_to_date"]

    # The kernel sees both, with where they came from and whether they are trusted.
    found = {m["hash"]: m for m in ipc(machine, "kernel", "apps.search", text=TRUSTED_PROMPT, limit=5)}
    match = found[served.trusted_hash]
    assert (match["origin"], match["trusted"]) == ("hub", True), found
    origin = ipc(machine, "kernel", "apps.provenance", ref=served.trusted_hash)
    assert (origin["origin"], origin["author"]["name"], origin["trusted"]) == ("hub", "hub-publisher", True)
    unknown = ipc(machine, "kernel", "apps.provenance", ref=served.stranger_hash)
    assert (unknown["origin"], unknown["author"]["name"], unknown["trusted"]) == ("strangers", None, False)

    # The stranger's app does not run without the user's extra confirmation.
    assert "do not trust" in refusal(machine, "apps.run", ref=served.stranger_hash, granted=["ui:window"])

    # The trusted app runs: the kernel starts it, its window is mapped, and it keeps running.
    started = ipc(machine, "kernel", "apps.run", ref=served.trusted_hash,
                  granted=["ui:window", "storage:local"], call_timeout=scaled(30))
    window = wait_until(lambda: next((w for w in ipc(machine, "compositor", "windows")
                                      if w.get("title") == TRUSTED_TITLE), None), scaled(60),
                        "the pulled app's window")
    assert window["width"] > 100 and window["height"] > 100, window
    running = {app["app_id"]: app for app in ipc(machine, "kernel", "apps.running")}
    assert running[started["app_id"]]["state"] == "running", running
    ipc(machine, "kernel", "apps.stop", app_id=started["app_id"])
