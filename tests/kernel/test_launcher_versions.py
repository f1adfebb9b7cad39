"""The launcher with app identities: an app runs under its identity (storage, token), launching another
version stops the running one and switches the data, and a refused migration keeps the old version
running with its data. The app host is a stand-in process object (the sandbox has its own tests)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from llmos.kernel.caps import open_authority
from llmos.kernel.launcher import Launcher
from llmos.kernel.registry import Registry
from llmos.kernel.sandbox.storage import AppStorage
from llmos.kernel.versions import Mapping, Versions, identity_for

OLD = """import { ui, storage } from '@llm-os/sdk';
export default function App() {
  const [count, setCount] = storage.useLocal('count', 0);
  return ui.Window({ title: 'Counter' }, [ui.Button({ onClick: () => setCount(count + 1) }, 'Add')]);
}
"""
NEW = OLD.replace("useLocal('count', 0)", "useLocal('total', 0)").replace("'Counter'", "'Tally'")
LABEL = OLD.replace("useLocal('count', 0)", "useLocal('count', 'none')")
SCOPES = ["storage:local", "ui:window"]


class Host:
    """A stand-in app host: runs until asked to stop."""

    def __init__(self) -> None:
        self.pid = 4242
        self.control_path = "/nonexistent/control.sock"
        self.done = asyncio.Event()

    async def wait(self, timeout: float | None = None) -> tuple[int, dict[str, Any] | None]:
        await self.done.wait()
        return 0, None

    async def call(self, method: str, **_params: Any) -> None:
        if method == "stop":
            self.done.set()

    async def stop(self) -> None:
        self.done.set()


class Manager:
    def __init__(self) -> None:
        self.renderer = "null"
        self.running: set[Host] = set()
        self.tokens: list[str] = []

    async def launch(self, code: str, token: str, filename: str = "", renderer: str | None = None) -> Host:
        self.tokens.append(token)
        return Host()


def test_launch_switches_versions_under_one_identity(tmp_path: Path) -> None:
    state = tmp_path / "state"
    storage = AppStorage(state / "apps")
    notices: list[tuple[str, str]] = []

    async def scenario(registry: Registry, versions: Versions) -> None:
        launcher = Launcher(Manager(), open_authority(state), lambda *_: None, lambda: "null",  # type: ignore[arg-type]
                            versions=versions, on_notice=lambda app, text: notices.append((app, text)))
        v1 = registry.add("a counter", OLD, "model-a", SCOPES)
        first = await launcher.launch(v1, SCOPES)
        identity = identity_for(v1.codeHash)
        assert first.token_app == identity
        storage.set(identity, "count", json.dumps(7))

        refused = registry.add("a counter", LABEL, "model-b", SCOPES, parent=v1.codeHash)
        versions.add_version(v1.codeHash, refused, Mapping.parse({"convert": {"count": "string"}}))
        storage.set(identity, "count", json.dumps([7]))  # a list cannot become a string
        try:
            await launcher.launch(refused, SCOPES)
        except ValueError as error:
            assert "cannot become a string" in str(error)
        else:
            raise AssertionError("the lossy migration was not refused")
        assert first.app_id in launcher.apps and first.state == "running"  # the old one kept running
        assert storage.values(identity) == {"count": json.dumps([7])}
        storage.set(identity, "count", json.dumps(7))

        v3 = registry.add("a counter", NEW, "model-c", SCOPES, parent=v1.codeHash)
        versions.add_version(v1.codeHash, v3, Mapping.parse({"rename": {"count": "total"}}))
        second = await launcher.launch(v3, SCOPES)
        assert second.token_app == identity and first.state == "stopped"  # one version at a time
        assert storage.values(identity) == {"total": json.dumps(7)}
        assert versions.history(identity).current == v3.codeHash
        await launcher.stop_all()

    with Registry(state) as registry, Versions(registry, storage) as versions:
        asyncio.run(scenario(registry, versions))
    storage.close()
    assert notices == []
