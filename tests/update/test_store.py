"""The model store both slots share (update/store.py) and apply's store step: what a root links to is
kept, what neither root needs goes, new models are written whole or not at all, and a store that
cannot take the bundle's models refuses it before anything is written."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import pytest

from llmos.update import apply, bundle, slots, status, store

from .conftest import Parts, Vendor
from .test_cli import Machine
from .test_schedule import layout_of, quiet


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def running_root(directory: Path, models: dict[str, bytes]) -> tuple[Path, Path]:
    """A root's models directory as the build leaves it, and the store its links point into."""
    root = directory / "root"
    for name, data in models.items():
        path = root / store.MODELS_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    store.move_into_store(root)
    return root / store.MODELS_DIR, root / store.STORE_DIR


def test_the_build_moves_models_into_the_store_and_links_them_by_content(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / store.MODELS_DIR / "encoder").mkdir(parents=True)
    (root / store.MODELS_DIR / "model.gguf").write_bytes(b"weights")
    (root / store.MODELS_DIR / "encoder/vocab.txt").write_bytes(b"words")
    (root / store.MODELS_DIR / "encoder/copy.txt").write_bytes(b"words")  # the same bytes: one object
    objects = store.move_into_store(root)
    assert objects == {sha(b"weights"): 7, sha(b"words"): 5}
    assert sorted(p.name for p in (root / store.STORE_DIR).iterdir()) == sorted(objects)
    link = root / store.MODELS_DIR / "encoder/vocab.txt"
    assert os.readlink(link) == f"../../store/{sha(b'words')}"  # relative: right in the build tree too
    assert link.read_bytes() == b"words"
    assert store.linked_objects(root / store.MODELS_DIR) == set(objects)


def test_plan_keeps_what_either_root_links_to_and_deletes_the_rest(tmp_path: Path) -> None:
    models, shared = running_root(tmp_path, {"model.gguf": b"old model", "vocab.txt": b"words"})
    (shared / sha(b"stale")).write_bytes(b"stale")  # the slot being replaced linked to it
    (shared / ".abc.partial").write_bytes(b"half")  # a power cut left it
    (shared / "lost+found").mkdir()
    plan = store.plan(shared, store.linked_objects(models), {sha(b"new model"): 9, sha(b"words"): 5})
    assert sorted(p.name for p in plan.doomed) == sorted([sha(b"stale"), ".abc.partial"])
    assert plan.missing == ((sha(b"new model"), 9),)  # words is there already
    store.collect(plan.doomed)
    assert sorted(p.name for p in shared.iterdir()) == sorted(
        [sha(b"old model"), sha(b"words"), "lost+found"])
    assert (models / "model.gguf").read_bytes() == b"old model"  # the running root's model stays


def test_plan_refuses_models_that_do_not_fit_before_deleting_anything(tmp_path: Path) -> None:
    models, shared = running_root(tmp_path, {"model.gguf": b"old model"})
    (shared / sha(b"stale")).write_bytes(b"stale")
    free = os.statvfs(shared).f_bavail * os.statvfs(shared).f_frsize
    with pytest.raises(store.StoreRefused, match=r"free once unused models are deleted; the bundle's 1 new"):
        store.plan(shared, store.linked_objects(models), {"f" * 64: free * 2})
    assert (shared / sha(b"stale")).exists()


def test_an_object_is_written_whole_and_read_back_or_not_at_all(tmp_path: Path) -> None:
    shared = tmp_path / "store"
    shared.mkdir()
    data = os.urandom(3 << 20)
    seen: list[tuple[str, int, int]] = []
    path = store.write_object(shared, sha(data), len(data), [data[:1 << 20], data[1 << 20:]],
                              lambda *step: seen.append(step))
    assert path.read_bytes() == data and seen[-1] == (f"write model {sha(data)[:12]}", len(data), len(data))
    with pytest.raises(store.StoreWriteError, match="the bundle's bytes hash to"):
        store.write_object(shared, "e" * 64, 4, [b"nope"], quiet)
    assert sorted(p.name for p in shared.iterdir()) == [sha(data)]  # no partial object left


@pytest.fixture
def machine(tmp_path: Path, vendor: Vendor) -> Machine:
    (tmp_path / "machine").mkdir()
    return Machine(tmp_path / "machine", vendor.public_path)


def model_bundle(tmp_path: Path, vendor: Vendor, parts: Parts, version: str,
                 models: dict[str, bytes]) -> Path:
    directory = tmp_path / f"models-{version}"
    directory.mkdir()
    for name, data in models.items():
        (directory / name).write_bytes(data)
    out = tmp_path / f"v{version}.llmos"
    bundle.make_bundle(out, vendor.private, os_version=version, arch="x86_64", rootfs=parts.rootfs,
                       kernel=parts.kernel, initrd=parts.initrd, objects=sorted(directory.iterdir()))
    return out


def test_apply_writes_only_the_new_models_and_keeps_the_running_roots(
        tmp_path: Path, machine: Machine, vendor: Vendor, parts: Parts) -> None:
    models, shared = running_root(machine.root, {"model.gguf": b"model 1"})
    (shared / sha(b"from the slot being replaced")).write_bytes(b"from the slot being replaced")
    layout = dataclasses.replace(layout_of(machine), store=shared, models=models)
    written: list[str] = []
    apply.apply(model_bundle(tmp_path, vendor, parts, "2", {"model.gguf": b"model 2", "same": b"model 1"}),
                layout, progress=lambda stage, *_: written.append(stage))
    assert sorted(p.name for p in shared.iterdir()) == sorted([sha(b"model 1"), sha(b"model 2")])
    assert [s for s in dict.fromkeys(written) if s.startswith("write model")] == \
        [f"write model {sha(b'model 2')[:12]}"]  # model 1 was there: not written again
    assert (models / "model.gguf").read_bytes() == b"model 1"  # the fallback's model is still whole
    assert slots.load_state(machine.state).slot("b").state == slots.INSTALLED


def test_a_bundle_with_models_is_refused_by_an_image_without_a_store(
        tmp_path: Path, machine: Machine, vendor: Vendor, parts: Parts) -> None:
    before = machine.snapshot()
    with pytest.raises(store.StoreRefused, match="there is none to write here"):
        apply.apply(model_bundle(tmp_path, vendor, parts, "2", {"m": b"model"}), layout_of(machine),
                    progress=quiet)
    assert machine.snapshot() == before
    last = slots.load_state(machine.state).last
    assert last is not None and last.outcome == "refused"


def test_a_failed_model_write_marks_the_slot_invalid(
        tmp_path: Path, machine: Machine, vendor: Vendor, parts: Parts,
        monkeypatch: pytest.MonkeyPatch) -> None:
    models, shared = running_root(machine.root, {"model.gguf": b"model 1"})
    layout = dataclasses.replace(layout_of(machine), store=shared, models=models)
    def failing(*args: object, **kwargs: object) -> Path:
        raise store.StoreWriteError("model x: read back as y")

    monkeypatch.setattr(store, "write_object", failing)
    with pytest.raises(apply.ApplyError, match="model store: model x: read back as y"):
        apply.apply(model_bundle(tmp_path, vendor, parts, "2", {"m": b"model 2"}), layout, progress=quiet)
    record = slots.load_state(machine.state).slot("b")
    assert record.state == slots.INVALID and "model store" in record.detail
    assert not any(p.name.startswith("llmos-2") for p in (machine.esp / "loader/entries").iterdir())
    assert (models / "model.gguf").read_bytes() == b"model 1"


def test_status_shows_the_store_and_names_a_model_the_running_root_misses(
        tmp_path: Path, machine: Machine) -> None:
    models, shared = running_root(machine.root, {"model.gguf": b"model 1", "enc/vocab.txt": b"words"})
    report = status.gather(machine.esp, machine.state, "a", booted_entry="llmos-1.conf", store_dir=shared,
                           models=models)
    assert "Model store: 2 files" in status.render(report)
    assert "every model the running root links to is there" in status.render(report)
    (shared / sha(b"words")).unlink()
    report = status.gather(machine.esp, machine.state, "a", booted_entry="llmos-1.conf", store_dir=shared,
                           models=models)
    assert "MISSING 1 model file(s) the running root links to: enc/vocab.txt" in status.render(report)
    assert status.gather(machine.esp, machine.state, "a", store_dir=tmp_path / "none", models=models).store \
        is None  # an image whose roots carry their models
