"""`llmos update apply`: verify a bundle, write the inactive slot, put its boot files and a counting
loader entry on the ESP. The order is what keeps a machine bootable:

1. every check on the bundle (signature, key, architecture, version, size, hashes): nothing written yet;
2. the slot must be big enough, and the model store must have room for the bundle's new models once
   the ones neither root links to are gone: still nothing written;
3. entries that boot the inactive slot are removed, so it is off the menu while it is rewritten;
4. the model store drops the objects neither the running root nor the bundle links to, and takes the
   bundle's missing ones (each written, synced, read back, then named);
5. the slot is written, synced and read back (a failure in 4 or 5 marks it invalid in the state file);
6. its kernel and initrd go to the ESP (atomically, re-hashed), then the `+3` entry, the default.

The active slot, its entry and the models it links to are never touched.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmos.filelock import flocked
from llmos.init import rootdisk
from llmos.update import atomic, keys, loader, slots, store, system
from llmos.update.bundle import (
    OBJECT_PREFIX,
    Bundle,
    BundleRefused,
    Manifest,
    Progress,
    check_head,
    open_bundle,
)


class ApplyError(Exception):
    """The update failed after checks passed; the inactive slot is marked invalid, the active one runs."""


@dataclass(frozen=True)
class ApplyResult:
    slot: str
    device: Path
    manifest: Manifest
    entry: loader.Entry


def apply(bundle_path: Path, layout: system.Layout, *, force: bool = False,
          tries: int = loader.DEFAULT_TRIES, progress: Progress) -> ApplyResult:
    """Raises BundleRefused (or keys.KeyFileError, slots.SlotRefused, store.StoreRefused) before
    anything is written, or ApplyError / slots.SlotWriteError after; the outcome is recorded as the
    state file's last result."""
    layout.work_dir.mkdir(parents=True, exist_ok=True)
    with flocked(layout.work_dir / "apply.lock"):
        try:
            return _apply(bundle_path, layout, force=force, tries=tries, progress=progress)
        except (BundleRefused, keys.KeyFileError, slots.SlotRefused, store.StoreRefused) as error:
            slots.record_result(layout.state_path, "refused", None, None, str(error))
            raise
        except (ApplyError, slots.SlotWriteError) as error:
            slots.record_result(layout.state_path, "failed", None, slots.other(layout.active), str(error))
            raise


def head_check(layout: system.Layout, force: bool) -> Callable[[bytes], object]:
    """For a download: refuse a bundle on what its manifest says, before the rest of it comes."""
    public = keys.load_public(layout.public_key)
    return lambda head: check_head(head, public, layout.arch, layout.max_bytes,
                                   running_version=_running_version(layout), force=force)


def _store_plan(layout: system.Layout, manifest: Manifest) -> store.Plan | None:
    """What the model store will lose and gain; None on an image without one, for a bundle whose root
    carries its models itself."""
    wanted = {part.sha256: part.size for part in manifest.objects}
    if layout.store is None:
        if wanted:
            raise store.StoreRefused("the bundle's root keeps its models in the model store, and there "
                                     f"is none to write here (no {store.PARTLABEL} partition, or it could "
                                     "not be mounted)")
        return None
    return store.plan(layout.store, store.linked_objects(layout.models), wanted)


def _fill_store(bundle: Bundle, layout: system.Layout, plan: store.Plan, target: str,
                progress: Progress) -> None:
    """Step 4. The slot being replaced is off the menu, so what only it linked to may go."""
    assert layout.store is not None
    try:
        store.collect(plan.doomed)
        for sha256, size in plan.missing:
            store.write_object(layout.store, sha256, size, bundle.chunks(OBJECT_PREFIX + sha256), progress)
    except (OSError, store.StoreWriteError, BundleRefused) as error:
        reason = f"model store: {error}"
        slots.mark_invalid(layout.state_path, target, reason, bundle.manifest.os_version)
        raise ApplyError(f"slot {target}: {reason}; the slot is marked invalid and will not be booted") \
            from error


def _running_version(layout: system.Layout) -> str | None:
    """The version to beat: as the image says, else as the state file remembers the active slot."""
    return layout.running_version or slots.load_state(layout.state_path).slot(layout.active).version


def _apply(bundle_path: Path, layout: system.Layout, *, force: bool, tries: int,
           progress: Progress) -> ApplyResult:
    public = keys.load_public(layout.public_key)
    bundle = open_bundle(bundle_path, public, layout.arch, layout.max_bytes,
                         running_version=_running_version(layout), force=force, progress=progress)
    manifest = bundle.manifest
    target = slots.other(layout.active)
    device = layout.device(target)
    rootfs = manifest.part("rootfs")
    running = layout.device(layout.active)
    if device.exists() and running.exists() and os.path.samefile(device, running):
        raise slots.SlotRefused(f"slot {target} ({device}) is the running slot {layout.active} ({running}); "
                                "nothing was written")
    if reason := rootdisk.elsewhere(device):
        raise slots.SlotRefused(f"slot {target} ({device}) {reason}; nothing was written")
    slots.check_fits(slots.Slot(target, device), rootfs.size)
    plan = _store_plan(layout, manifest)

    loader.remove_slot_entries(layout.esp, target)
    if plan is not None:
        _fill_store(bundle, layout, plan, target, progress)
    slots.write_slot(slots.Slot(target, device), bundle.chunks("rootfs"), size=rootfs.size,
                     sha256=rootfs.sha256, version=manifest.os_version, state_path=layout.state_path,
                     progress=progress)
    try:
        for name, relative in zip(("kernel", "initrd"), loader.boot_files(target), strict=True):
            destination = layout.esp / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            progress(f"write {name}", 0, manifest.part(name).size)
            atomic.write_chunks(destination, bundle.chunks(name))  # chunks() re-checks the sha256
            progress(f"write {name}", manifest.part(name).size, manifest.part(name).size)
        options = loader.slot_options(layout.base_options, target, layout.root(target))
        entry = loader.install_entry(layout.esp, os_version=manifest.os_version, slot=target,
                                     options=options, tries=tries)
    except (OSError, BundleRefused, loader.LoaderError) as error:
        loader.remove_slot_entries(layout.esp, target)
        reason = f"boot files on the ESP: {error}"
        slots.mark_invalid(layout.state_path, target, reason, manifest.os_version)
        raise ApplyError(f"slot {target}: {reason}; the slot is marked invalid and will not be booted") \
            from error
    slots.record_result(layout.state_path, "installed", manifest.os_version, target,
                        f"{manifest.os_version} written to slot {target}; boots next, {tries} tries")
    return ApplyResult(target, device, manifest, entry)

