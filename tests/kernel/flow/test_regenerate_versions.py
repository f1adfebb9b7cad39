"""`flow.regenerate` with app identities: the new app becomes the next version of the same app, a bad
migration mapping fails before any generation, and one that would lose data saves nothing."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

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


TODO = """import { ui, storage } from '@llm-os/sdk';
export default function App() {
  const [todos, setTodos] = storage.useLocal<{ text: string; done: boolean }[]>('todos', []);
  const [dark] = storage.useLocal('dark', false);
  return ui.Window({ title: 'Todo' }, todos.map((t) => ui.Text({ text: t.text })));
}
"""
TODO_REGENERATED = """import { ui, storage } from '@llm-os/sdk';
export default function App() {
  const [tasks, setTasks] = storage.useLocal<{ text: string; done: boolean }[]>('tasks', []);
  const [filter, setFilter] = storage.useLocal('filter', 'all');
  const [dark] = storage.useLocal('dark', false);
  return ui.Window({ title: 'Tasks' }, tasks.map((t) => ui.Text({ text: t.text })));
}
"""
TASKS = [{"text": "buy milk", "done": False}, {"text": "call mum", "done": True},
         {"text": "water the plants", "done": False}]


@dataclass
class ModelWritesMappings(FakeGenerator):
    """The app code is scripted; the migration mapping comes from the real embedded model (the
    gateway's answer), or from `broken`'s error."""

    gateway: Any = None
    broken: str = ""

    async def answer(self, prompt: str, schema: dict[str, Any], max_tokens: int) -> tuple[str, str]:
        if self.broken:
            raise RuntimeError(self.broken)
        return await self.gateway.answer(prompt, schema, max_tokens)


@pytest.mark.slow
def test_a_regenerated_todo_app_with_another_key_keeps_every_task_through_the_models_mapping(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOS_STATE_DIR", str(tmp_path / "state"))
    from llmos.kernel.gateway import Gateway, GatewaySettings

    storage = AppStorage(tmp_path / "state" / "apps")
    gateway = Gateway(GatewaySettings.load({"local_context": 1024}))
    with Registry(tmp_path / "state") as registry, Versions(registry, storage) as versions:
        old = registry.add("my todo list", TODO, "model-a", ["storage:local", "ui:window"])
        identity = versions.check(old.codeHash)
        versions.switch(identity, old.codeHash, "launched")
        storage.set(identity, "todos", json.dumps(TASKS))
        storage.set(identity, "dark", json.dumps(True))

        generator = ModelWritesMappings([TODO_REGENERATED], MANIFEST, gateway=gateway)
        flow = AppFlow(registry, Answers(), generator=generator, launcher=Launcher(), versions=versions)
        events = regenerate(flow, old.codeHash, None)
        written = next(e for e in events if e.kind == "migration")
        assert written.data["mapping"] == {"rename": {"todos": "tasks"}}, written.data
        assert "refused" not in written.data and written.data["model"].endswith(".gguf")
        saved = next(e for e in events if e.kind == "saved")
        switched = versions.switch(identity, saved.data["hash"], "launched")
        values = storage.values(identity)
        assert json.loads(values["tasks"]) == TASKS and json.loads(values["dark"]) is True
        assert not switched.aside

    asyncio.run(gateway.close())
    storage.close()


def test_when_the_model_cannot_write_a_mapping_the_app_is_made_and_the_data_kept_aside(tmp_path: Path
                                                                                    ) -> None:
    storage = AppStorage(tmp_path / "state" / "apps")
    with Registry(tmp_path / "state") as registry, Versions(registry, storage) as versions:
        old = registry.add("my todo list", TODO, "model-a", ["storage:local", "ui:window"])
        identity = versions.check(old.codeHash)
        versions.switch(identity, old.codeHash, "launched")
        storage.set(identity, "todos", json.dumps(TASKS))
        generator = ModelWritesMappings([TODO_REGENERATED], MANIFEST, broken="the model is busy")
        flow = AppFlow(registry, Answers(), generator=generator, launcher=Launcher(), versions=versions)
        events = regenerate(flow, old.codeHash, None)
        written = next(e for e in events if e.kind == "migration")
        assert written.data["mapping"] == {} and "the model is busy" in written.data["refused"]
        saved = next(e for e in events if e.kind == "saved")
        switched = versions.switch(identity, saved.data["hash"], "launched")
        assert "tasks" not in storage.values(identity)
        assert list(switched.aside) == ["todos"]
    storage.close()
