"""`llmos update status`: the slots, their versions, tries left, the last result and any rollback, from
the state file and the loader entries on the ESP (the entries are the truth about booting: systemd-boot
renames them, the state file only knows what the updater did)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmos.update import loader, slots, store
from llmos.update.slots import LastResult


@dataclass(frozen=True)
class SlotView:
    name: str
    device: Path | None
    active: bool
    condition: str  # running, on-trial, good, failed, invalid, incomplete, written, empty
    version: str | None
    tries_left: int | None
    tries_done: int
    detail: str


@dataclass(frozen=True)
class UpdateStatus:
    active: str
    running_version: str | None
    slots: tuple[SlotView, ...]
    next_boot: str | None  # the entry systemd-boot picks next
    rollback: str | None
    last: LastResult | None
    problem: str
    store: store.Usage | None = None


def _view(name: str, device: Path | None, active: bool, record: slots.SlotRecord,
          entry: loader.Entry | None, running_version: str | None) -> SlotView:
    version = (entry.os_version if entry else None) or record.version
    left, done = (entry.name.tries_left, entry.name.tries_done) if entry else (None, 0)
    if active:
        return SlotView(name, device, True, "running", running_version or version, left, done,
                        "booted now" + (f"; not yet declared good, {left} tries left" if left else ""))
    if record.state == slots.WRITING:
        return SlotView(name, device, False, "incomplete", version, None, 0,
                        "a write started and did not finish; not bootable")
    if record.state == slots.INVALID:
        return SlotView(name, device, False, "invalid", version, None, 0, f"not bootable: {record.detail}")
    if entry is None:
        condition = "written" if record.state == slots.INSTALLED else "empty"
        detail = "no boot entry; not bootable" if condition == "written" else "nothing installed"
        return SlotView(name, device, False, condition, version, None, 0, detail)
    if entry.name.bad:
        return SlotView(name, device, False, "failed", version, 0, done,
                        f"failed to boot {done} times; not booted any more")
    if entry.name.counting:
        return SlotView(name, device, False, "on-trial", version, left, done,
                        f"installed, {left} tries left before falling back")
    return SlotView(name, device, False, "good", version, None, 0, "has booted successfully")


def gather(esp: Path, state_path: Path, active: str, *, devices: dict[str, Path] | None = None,
           booted_entry: str | None = None, running_version: str | None = None,
           store_dir: Path | None = None, models: Path | None = None) -> UpdateStatus:
    state = slots.load_state(state_path)
    listed = loader.entries(esp)
    views = []
    for name in slots.SLOTS:
        entry = next((e for e in listed if e.slot == name), None)
        views.append(_view(name, (devices or {}).get(name), name == active, state.slot(name), entry,
                           running_version if name == active else None))
    default = loader.default_entry(esp)
    rollback = loader.rolled_back(esp, booted_entry) if booted_entry else None
    if rollback is None and not booted_entry:  # no EFI variable: judge by the active slot's entry
        active_entry = next((e for e in listed if e.slot == active), None)
        rollback = loader.rolled_back(esp, active_entry.name.id) if active_entry else None
    return UpdateStatus(active, running_version or state.slot(active).version, tuple(views),
                        default.path.name if default else None, rollback.message if rollback else None,
                        state.last, state.problem,
                        store.usage(store_dir, models) if store_dir and models else None)


def render(status: UpdateStatus) -> str:
    lines = [f"Running slot {status.active}, version {status.running_version or 'unknown'}."]
    if status.rollback:
        lines.append(f"ROLLED BACK: {status.rollback}.")
    for view in status.slots:
        where = f" ({view.device})" if view.device else ""
        version = f"version {view.version}" if view.version else "no version"
        lines.append(f"  slot {view.name}{where}: {view.condition}, {version}: {view.detail}")
    if status.next_boot:
        lines.append(f"Next boot: {status.next_boot}.")
    if status.last:
        lines.append(f"Last update: {status.last.outcome} at {status.last.time}: {status.last.message}")
    else:
        lines.append("Last update: none recorded.")
    if status.store:
        lines.append(status.store.line())
    if status.problem:
        lines.append(f"Note: {status.problem}")
    return "\n".join(lines)
