"""App identity, version history, rollback and data migration (kernel/versions) on a real registry
(git + SQLite) and real per-app storage files."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmos.kernel.registry import Record, Registry
from llmos.kernel.sandbox import storage as storage_module
from llmos.kernel.sandbox.storage import AppStorage
from llmos.kernel.versions import Mapping, MappingError, MigrationRefused, Versions, identity_for

SCOPES = ["storage:local", "ui:window"]
PROMPT = "a todo list"
TODO_V1 = (Path(__file__).parents[3] / "kernel" / "starter" / "apps" / "todo.ts").read_text()
TODO_V2 = """import { ui, storage } from '@llm-os/sdk';

type Task = { title: string; completed: boolean };

export default function App() {
  const [tasks, setTasks] = storage.useLocal<Task[]>('tasks', []);
  const [filter, setFilter] = storage.useLocal('filter', 'all');
  return ui.Window({ title: 'Tasks' }, [
    ui.Text({}, `${tasks.filter((t) => !t.completed).length} left (${filter})`),
    ui.Button({ onClick: () => setFilter('open') }, 'Open'),
    ui.Button({ onClick: () => setTasks([]) }, 'Clear'),
  ]);
}
"""
TO_V2 = {"rename": {"todos": "tasks"},
         "convert": {"tasks": {"fields": {"text": "title", "done": "completed"}}}}
TASKS = [{"text": "milk", "done": False}, {"text": "bread", "done": True}, {"text": "eggs", "done": False}]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry(tmp_path / "state") as opened:
        yield opened


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[AppStorage]:
    opened = AppStorage(tmp_path / "state" / "apps")
    yield opened
    opened.close()


@pytest.fixture
def versions(registry: Registry, storage: AppStorage) -> Iterator[Versions]:
    opened = Versions(registry, storage)
    yield opened
    opened.close()


def first_run(registry: Registry, versions: Versions, storage: AppStorage) -> tuple[Record, str]:
    """The todo app saved, launched (made current) and used: three tasks and a draft."""
    v1 = registry.add(PROMPT, TODO_V1, "model-a", SCOPES)
    identity = versions.check(v1.codeHash)
    versions.switch(identity, v1.codeHash, "launched")
    storage.set(identity, "todos", json.dumps(TASKS))
    return v1, identity


def regenerate(registry: Registry, versions: Versions, parent: Record, code: str, mapping: object,
               model: str = "model-b") -> Record:
    """What the flow does for `llmos app regenerate --migration`: check, save, add the version."""
    parsed = Mapping.parse(mapping)
    versions.check_regeneration(parent.codeHash, code, parsed)
    record = registry.add(parent.prompt, code, model, SCOPES, parent=parent.codeHash)
    versions.add_version(parent.codeHash, record, parsed)
    return record


def test_regenerated_todo_app_keeps_every_task(registry: Registry, versions: Versions,
                                               storage: AppStorage) -> None:
    v1, identity = first_run(registry, versions, storage)
    assert identity == identity_for(v1.codeHash)  # the storage it had before identities
    v2 = regenerate(registry, versions, v1, TODO_V2, TO_V2)
    assert versions.identity(v2.codeHash) == identity  # same app, new version
    switched = versions.switch(identity, v2.codeHash, "launched")
    assert not switched.restored and switched.aside == {}
    tasks = json.loads(storage.get(identity, "tasks") or "null")
    assert tasks == [{"title": t["text"], "completed": t["done"]} for t in TASKS]
    assert storage.keys(identity) == ["tasks"]  # "filter" starts at its default in the app


def test_history_lists_versions_in_order(registry: Registry, versions: Versions, storage: AppStorage) -> None:
    v1, identity = first_run(registry, versions, storage)
    v2 = regenerate(registry, versions, v1, TODO_V2, TO_V2)
    versions.switch(identity, v2.codeHash, "launched")
    v3 = regenerate(registry, versions, v2, TODO_V2.replace("'Tasks'", "'My tasks'"), None, model="model-c")
    registry.rate(v2.codeHash, 4)
    history = versions.history(v3.codeHash[7:19])
    assert history.identity == identity and history.current == v2.codeHash
    assert [(e.seq, e.hash, e.model, e.how, e.current) for e in history.versions] == [
        (1, v1.codeHash, "model-a", "created", False),
        (2, v2.codeHash, "model-b", "regenerated", True),
        (3, v3.codeHash, "model-c", "regenerated", False)]
    assert history.versions[1].rating == 4.0 and history.versions[0].generated_at == v1.generatedAt
    assert [(m.from_hash, m.to_hash) for m in history.moves] == [(None, v1.codeHash),
                                                                 (v1.codeHash, v2.codeHash)]
    assert json.loads(json.dumps(history.to_json()))["versions"][2]["model"] == "model-c"


def test_rollback_restores_the_old_view_and_forward_again(registry: Registry, versions: Versions,
                                                          storage: AppStorage) -> None:
    v1, identity = first_run(registry, versions, storage)
    storage.set(identity, "draft", json.dumps("butter"))  # a key v2 does not read: kept aside
    v2 = regenerate(registry, versions, v1, TODO_V2, TO_V2)
    switched = versions.switch(identity, v2.codeHash, "launched")
    assert set(switched.aside) == {"draft"} and "kept aside" in switched.notice
    assert [row["key"] for row in versions.history(identity).aside] == ["draft"]
    storage.set(identity, "filter", json.dumps("open"))  # v2 is used

    back = versions.rollback(identity)  # no tokens: just the pointer and v1's saved view
    assert back.to_hash == v1.codeHash and back.restored and back.seq == 1
    assert storage.values(identity) == {"todos": json.dumps(TASKS), "draft": json.dumps("butter")}
    assert versions.history(identity).current == v1.codeHash

    forward = versions.rollback(identity, to="2")
    assert forward.restored and json.loads(storage.get(identity, "filter") or "null") == "open"
    with pytest.raises(ValueError, match="no version 7"):
        versions.rollback(identity, to="7")


def test_migration_that_would_lose_data_is_refused(registry: Registry, versions: Versions,
                                                   storage: AppStorage) -> None:
    v1, identity = first_run(registry, versions, storage)
    storage.set(identity, "tasks", json.dumps([{"title": "left over", "completed": False}]))  # taken
    with pytest.raises(MigrationRefused, match=r"'todos' and 'tasks' would both be stored as 'tasks'"):
        regenerate(registry, versions, v1, TODO_V2, TO_V2)
    counter = TODO_V2.replace("storage.useLocal('filter', 'all')", "storage.useLocal('count', 0)")
    storage.delete(identity, "tasks")
    storage.set(identity, "count", json.dumps("three"))
    with pytest.raises(MigrationRefused, match=r"convert.count.*the string \"three\" cannot become"):
        regenerate(registry, versions, v1, counter, {**TO_V2, "convert": {"count": "number"}})
    assert len(registry) == 1 and [v.seq for v in versions.lineages.versions(identity)] == [1]
    assert json.loads(storage.get(identity, "todos") or "null") == TASKS  # untouched


@pytest.mark.parametrize(("mapping", "where"), [
    ({"rename": {"todos": 5}}, "migration.rename.todos"),
    ({"rename": {"a": "x", "b": "x"}}, "migration.rename.b: 'b' and 'a' both become 'x'"),
    ({"convert": {"tasks": "float"}}, "migration.convert.tasks.to: \"float\" is not one of"),
    ({"convert": {"tasks": {"fields": {"text": "title"}, "code": "x"}}},
     "migration.convert.tasks: unknown field 'code'"),
    ({"rename": {"todos": "nowhere"}}, "migration.rename.todos: the new version does not store 'nowhere'"),
    ({"script": "return data"}, "migration: unknown field 'script'"),
    ("{not json", "migration: not JSON"),
])
def test_malformed_mapping_is_refused_with_where(registry: Registry, versions: Versions, storage: AppStorage,
                                                 mapping: object, where: str) -> None:
    v1, identity = first_run(registry, versions, storage)
    with pytest.raises(MappingError) as refused:
        regenerate(registry, versions, v1, TODO_V2, mapping)
    assert where in str(refused.value)
    assert versions.history(identity).current == v1.codeHash and len(registry) == 1
    assert json.loads(storage.get(identity, "todos") or "null") == TASKS


def test_power_cut_mid_migration_leaves_data_untouched(registry: Registry, versions: Versions,
                                                       storage: AppStorage,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    v1, identity = first_run(registry, versions, storage)
    v2 = regenerate(registry, versions, v1, TODO_V2, TO_V2)
    before = storage.values(identity)
    real = storage_module._write_values

    def cut(db: object, values: dict[str, str]) -> None:
        real(db, values)  # type: ignore[arg-type]  # the new view is half written …
        raise KeyboardInterrupt("power cut")  # … when the power goes

    monkeypatch.setattr(storage_module, "_write_values", cut)
    with pytest.raises(KeyboardInterrupt):
        versions.switch(identity, v2.codeHash, "launched")
    monkeypatch.undo()
    assert storage.values(identity) == before and storage.view(identity) == v1.codeHash
    assert storage.saved(identity, v1.codeHash) is None  # the snapshot was rolled back with the rest
    assert versions.history(identity).current == v1.codeHash
    versions.switch(identity, v2.codeHash, "launched")  # the next try migrates whole
    assert len(json.loads(storage.get(identity, "tasks") or "[]")) == 3


def test_killed_between_data_and_pointer_is_undone_on_next_launch(registry: Registry, versions: Versions,
                                                                  storage: AppStorage,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    v1, identity = first_run(registry, versions, storage)
    v2 = regenerate(registry, versions, v1, TODO_V2, TO_V2)

    def cut(*_args: object) -> None:
        raise KeyboardInterrupt("power cut after the data switched, before the pointer moved")

    monkeypatch.setattr(versions.lineages, "point", cut)
    with pytest.raises(KeyboardInterrupt):
        versions.switch(identity, v2.codeHash, "launched")
    monkeypatch.undo()
    assert storage.view(identity) == v2.codeHash and versions.history(identity).current == v1.codeHash
    assert versions.check(v1.codeHash) == identity
    versions.switch(identity, v1.codeHash, "launched")  # v1 runs again
    assert storage.values(identity) == {"todos": json.dumps(TASKS)}


def test_storage_made_before_identities_is_adopted_whole(registry: Registry, storage: AppStorage,
                                                         tmp_path: Path) -> None:
    v1 = registry.add(PROMPT, TODO_V1, "model-a", SCOPES)
    v2 = registry.add(PROMPT, TODO_V2, "model-b", SCOPES, parent=v1.codeHash)  # regenerated, old style
    storage.set(identity_for(v1.codeHash), "todos", json.dumps(TASKS))
    storage.set(identity_for(v2.codeHash), "tasks", json.dumps([{"title": "v2's own", "completed": False}]))
    with Versions(registry, storage) as versions:
        identity = versions.check(v2.codeHash)
        assert identity == identity_for(v1.codeHash)  # joined its parent's app
        versions.switch(identity, v2.codeHash, "launched")
        assert storage.values(identity) == {"tasks": json.dumps([{"title": "v2's own", "completed": False}])}
        assert not (tmp_path / "state" / "apps" / identity_for(v2.codeHash)).exists()
        assert (tmp_path / "state" / "apps" / ".adopted" / identity_for(v2.codeHash)).is_dir()
        versions.rollback(identity)
        assert storage.values(identity) == {"todos": json.dumps(TASKS)}
        assert [e.how for e in versions.history(identity).versions] == ["created", "adopted"]


def test_history_from_the_command_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Registry(state) as registry:
        v1 = registry.add(PROMPT, TODO_V1, "model-a", SCOPES)
        v2 = registry.add(PROMPT, TODO_V2, "model-b", SCOPES, parent=v1.codeHash)
    env = {**os.environ, "LLMOS_STATE_DIR": str(state), "LLMOS_CONFIG": str(state / "none.toml"),
           "LLMOS_NO_KERNEL": "1"}

    def app(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "llmos.cli", "app", *args], env=env, capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)

    shown = app("history", v1.codeHash[7:19], "--json")
    assert shown.returncode == 0, shown.stderr
    listed = json.loads(shown.stdout)
    assert [(v["seq"], v["model"]) for v in listed["versions"]] == [(1, "model-a")]  # v2 joins on first use
    plain = app("history", v1.codeHash[7:19])
    assert "model-a" in plain.stdout and plain.stdout.startswith(identity_for(v1.codeHash))
    refused = app("rollback", v1.codeHash[7:19])
    assert refused.returncode == 1 and "first version" in refused.stderr
    joined = json.loads(app("history", v2.codeHash[7:19], "--json").stdout)  # v2's first use
    assert [(v["seq"], v["how"], v["current"]) for v in joined["versions"]] == [
        (1, "created", True), (2, "adopted", False)]
    forward = app("rollback", identity_for(v1.codeHash), "--to", "2")
    assert forward.returncode == 0 and "now version 2" in forward.stdout, forward.stderr
    back = json.loads(app("rollback", v2.codeHash[7:19], "--json").stdout)
    assert back["seq"] == 1 and back["to"] == v1.codeHash



def test_another_authors_record_never_reaches_this_apps_data(registry: Registry, versions: Versions,
                                                             storage: AppStorage,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    v1, identity = first_run(registry, versions, storage)
    child = registry.add(PROMPT, TODO_V2, "model-x", SCOPES, parent=v1.codeHash)
    real = registry.get

    def as_pulled(ref: str, *, allow_untrusted: bool = False) -> Record:
        found = real(ref, allow_untrusted=allow_untrusted)  # a stranger's signature, as a pull keeps it
        return dataclasses.replace(found, signedBy="ab" * 32) if found.codeHash == child.codeHash else found

    monkeypatch.setattr(registry, "get", as_pulled)
    assert versions.identity(child.codeHash) == identity_for(child.codeHash) != identity
    assert versions.history(child.codeHash).forked_from == v1.codeHash
