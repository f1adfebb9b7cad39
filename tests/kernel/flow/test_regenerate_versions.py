"""`flow.regenerate` with app identities: the new app becomes the next version of the same app, a bad
migration mapping fails before any generation, and one that would lose data saves nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from llmos.kernel.flow import AppFlow
from llmos.kernel.registry import Registry
from llmos.kernel.sandbox.storage import AppStorage
from llmos.kernel.versions import Versions

from .test_flow import Answers, FakeGenerator, Launcher

OLD = """import { ui, storage } from '@llm-os/sdk';
export default function App() {
  const [city, setCity] = storage.useLocal('city', 'Paris');
  return ui.Window({ title: 'Weather' }, [ui.TextInput({ value: city, onChange: setCity })]);
}
"""
NEW = OLD.replace("storage.useLocal('city', 'Paris')", "storage.useLocal('place', 'Paris')")
NUMBERED = OLD.replace("storage.useLocal('city', 'Paris')", "storage.useLocal('place', 0)")
MANIFEST = {"capabilities": [{"scope": "ui:window", "required": True},
                             {"scope": "storage:local", "required": True}]}


def regenerate(flow: AppFlow, ref: str, migration: Any) -> list[Any]:
    async def collect() -> list[Any]:
        return [e async for e in flow.regenerate(ref, None, migration) if e.kind != "generating"]
    return asyncio.run(collect())


def test_regenerate_makes_the_next_version_and_refuses_bad_mappings(tmp_path: Path) -> None:
    storage = AppStorage(tmp_path / "state" / "apps")
    with Registry(tmp_path / "state") as registry, Versions(registry, storage) as versions:
        old = registry.add("weather for my city", OLD, "model-a", ["storage:local", "ui:window"])
        identity = versions.check(old.codeHash)
        versions.switch(identity, old.codeHash, "launched")
        storage.set(identity, "city", json.dumps("Lyon"))

        def flow(generator: FakeGenerator) -> AppFlow:
            return AppFlow(registry, Answers(), generator=generator, launcher=Launcher(), versions=versions)

        generator = FakeGenerator([NEW], MANIFEST)
        events = regenerate(flow(generator), old.codeHash, {"rename": {"city": 3}})
        assert [e.kind for e in events] == ["failed"] and "migration.rename.city" in events[0].data["reason"]
        assert generator.repairs == []  # refused before any token was spent

        lossy = {"convert": {"place": "number"}, "rename": {"city": "place"}}
        events = regenerate(flow(FakeGenerator([NUMBERED], MANIFEST)), old.codeHash, lossy)
        assert events[-1].kind == "failed" and "cannot become a number" in events[-1].data["reason"]
        assert len(registry) == 1  # nothing saved

        events = regenerate(flow(FakeGenerator([NEW], MANIFEST)), old.codeHash, {"rename": {"city": "place"}})
        saved = next(e for e in events if e.kind == "saved")
        assert saved.data["identity"] == identity and saved.data["version"] == 2
        versions.switch(identity, saved.data["hash"], "launched")
        assert storage.values(identity) == {"place": json.dumps("Lyon")}
    storage.close()
