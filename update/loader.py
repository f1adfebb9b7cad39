"""systemd-boot loader entries with boot counting (systemd's Automatic Boot Assessment).

An entry file named `llmos-2+3.conf` has 3 tries left. Before each attempt systemd-boot renames it
(`+2-1`, `+1-2`, `+0-3`: LEFT-DONE); an entry at `+0` is "bad" and is sorted after every other entry.
A boot that is judged good renames it to `llmos-2.conf` ("blessing"), which ends the counting.

How the new entry becomes the default, and how the old one comes back: every entry we write carries
`sort-key llmos` and `version <generation>`, a number one higher than any entry on the ESP. systemd-boot
(v251 and later) orders entries by sort-key, then version, newest first, with bad entries last, and
loader.conf says `default llmos-*`, which picks the first entry that matches. So the newest install is
booted while it has tries left, and when they are used up the previous, blessed entry is first again.
A glob and not an exact id, because an exact default would keep pointing at the bad entry (the loader
does not skip bad entries when the default names them), and older loaders keep the counter in the id.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from llmos.update import atomic, version

ENTRY_PREFIX = "llmos-"
SORT_KEY = "llmos"
DEFAULT_PATTERN = "llmos-*"
ENTRIES_DIR = PurePosixPath("loader/entries")
LOADER_CONF = PurePosixPath("loader/loader.conf")
BOOT_DIR = PurePosixPath("llmos")  # kernel and initrd per slot: /llmos/<slot>/vmlinuz, /llmos/<slot>/initrd
DEFAULT_TRIES = 3
LOADER_GUID = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"
SUFFIX = ".conf"
_COUNTER_RE = re.compile(r"\+(\d+)(?:-(\d+))?")


class LoaderError(Exception):
    """The ESP is not as expected (an entry missing, a name that cannot be blessed)."""


@dataclass(frozen=True)
class EntryName:
    """A loader entry file name split the way systemd-boot reads it."""

    stem: str  # llmos-2
    tries_left: int | None = None  # None: no boot counting (a blessed or ordinary entry)
    tries_done: int = 0

    @property
    def counting(self) -> bool:
        return self.tries_left is not None

    @property
    def bad(self) -> bool:
        """Tries used up: systemd-boot boots it only if nothing else is left."""
        return self.tries_left == 0

    @property
    def filename(self) -> str:
        if self.tries_left is None:
            return f"{self.stem}{SUFFIX}"
        done = f"-{self.tries_done}" if self.tries_done else ""
        return f"{self.stem}+{self.tries_left}{done}{SUFFIX}"

    @property
    def id(self) -> str:
        """The id a current systemd-boot gives the entry: the name without the counter, case folded."""
        return f"{self.stem}{SUFFIX}".lower()

    def attempted(self) -> EntryName:
        """The name systemd-boot renames this to before booting it (what one boot attempt does)."""
        if self.tries_left is None:
            return self
        return EntryName(self.stem, max(self.tries_left - 1, 0), self.tries_done + 1)

    def blessed(self) -> EntryName:
        return EntryName(self.stem)


def parse_name(filename: str) -> EntryName:
    """Mirror systemd-boot: a counter is `+LEFT[-DONE]` right before `.conf`; anything else (a `+` in the
    middle, no digits) means no counting and the whole name is the stem."""
    if not filename.lower().endswith(SUFFIX):
        raise LoaderError(f"{filename}: not a loader entry (no {SUFFIX})")
    base = filename[:-len(SUFFIX)]
    plus = base.rfind("+")
    if plus > 0:
        match = _COUNTER_RE.fullmatch(base[plus:])
        if match:
            return EntryName(base[:plus], int(match.group(1)), int(match.group(2) or 0))
    return EntryName(base)


def normalize_id(entry_id: str) -> str:
    """An entry id as any systemd-boot reports it (with or without counter or .conf) -> our id form."""
    name = entry_id if entry_id.lower().endswith(SUFFIX) else entry_id + SUFFIX
    return parse_name(name).id


@dataclass(frozen=True)
class Entry:
    path: Path
    name: EntryName
    title: str
    generation: int  # the entry's `version` line: install order, newest highest
    os_version: str
    slot: str
    options: str


def _fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("# llmos."):  # our own facts ride in comments, which the loader skips
            key, _, value = line[2:].partition("=")
            fields[key] = value.strip()
        elif line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            fields.setdefault(key, value.strip())
    return fields


def read_entry(path: Path) -> Entry:
    fields = _fields(path.read_text(encoding="utf-8", errors="replace"))
    try:
        generation = int(fields.get("version", "0"))
    except ValueError:
        generation = 0
    slot = fields.get("llmos.slot") or _option(fields.get("options", ""), "llmos.slot") or ""
    return Entry(path, parse_name(path.name), fields.get("title", path.name), generation,
                 fields.get("llmos.os_version", ""), slot, fields.get("options", ""))


def _option(options: str, key: str) -> str | None:
    for word in options.split():
        name, _, value = word.partition("=")
        if name == key:
            return value
    return None


def entries(esp: Path) -> list[Entry]:
    """Our entries (llmos-*.conf), in systemd-boot's order: newest generation first, bad ones last."""
    directory = esp / ENTRIES_DIR
    found = [read_entry(p) for p in sorted(directory.glob(f"{ENTRY_PREFIX}*{SUFFIX}")) if p.is_file()] \
        if directory.is_dir() else []
    return sorted(found, key=lambda e: (e.name.bad, -e.generation, e.name.filename))


def default_entry(esp: Path) -> Entry | None:
    """The entry systemd-boot will pick next boot, assuming loader.conf's `default llmos-*` rules."""
    listed = entries(esp)
    return listed[0] if listed else None


def find(esp: Path, entry_id: str) -> Entry | None:
    wanted = normalize_id(entry_id)
    return next((e for e in entries(esp) if e.name.id == wanted), None)


def slot_options(base: str, slot: str, root: str) -> str:
    """The kernel command line for a slot: base options with root= and llmos.slot= replaced."""
    words = [w for w in shlex.split(base) if not w.startswith(("root=", "llmos.slot="))]
    return " ".join([f"root={root}", f"llmos.slot={slot}", *words])


def boot_files(slot: str) -> tuple[PurePosixPath, PurePosixPath]:
    """ESP-relative kernel and initrd of a slot; each slot has its own, so an update never touches the
    files the running entry boots."""
    return BOOT_DIR / slot / "vmlinuz", BOOT_DIR / slot / "initrd"


def remove_slot_entries(esp: Path, slot: str) -> list[Path]:
    """Delete every entry that boots this slot: done before the slot is overwritten, so a half-written
    slot is never on the menu."""
    removed = []
    for entry in entries(esp):
        if entry.slot == slot:
            atomic.remove(entry.path)
            removed.append(entry.path)
    return removed


def set_default_pattern(esp: Path) -> None:
    """loader.conf `default llmos-*`, keeping every other line; written atomically."""
    path = esp / LOADER_CONF
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    kept = [line for line in lines if line.split(maxsplit=1)[:1] != ["default"]]
    wanted = [f"default {DEFAULT_PATTERN}", *kept]
    if wanted != lines:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(path, ("\n".join(wanted) + "\n").encode())


def install_entry(esp: Path, *, os_version: str, slot: str, options: str, tries: int = DEFAULT_TRIES,
                  title: str | None = None) -> Entry:
    """Write `llmos-<os_version>+<tries>.conf` for the slot's kernel and initrd as the next boot's
    default. Entries already booting this slot are removed first. The kernel and initrd must already be
    on the ESP at boot_files(slot)."""
    if not version.valid(os_version):
        raise LoaderError(f"version {os_version!r} cannot name a loader entry")
    if tries < 1:
        raise LoaderError(f"tries {tries}: at least one boot attempt is needed")
    if "\n" in options or "\r" in options:
        raise LoaderError("the kernel command line must be one line")
    kernel, initrd = boot_files(slot)
    for relative in (kernel, initrd):
        if not (esp / relative).is_file():
            raise LoaderError(f"{esp / relative}: missing; the slot's boot files go on the ESP first")
    generation = max((e.generation for e in entries(esp)), default=0) + 1  # never reused
    remove_slot_entries(esp, slot)
    stem = f"{ENTRY_PREFIX}{os_version}"
    if any(e.name.stem.lower() == stem.lower() for e in entries(esp)):  # same version on both slots (--force)
        stem = f"{stem}-{slot}"
    name = EntryName(stem, tries, 0)
    text = (f"# Written by llmos update. systemd-boot renames this file to count boot attempts.\n"
            f"# llmos.os_version={os_version}\n"
            f"# llmos.slot={slot}\n"
            f"title {title or f'LLM OS {os_version} (slot {slot})'}\n"
            f"sort-key {SORT_KEY}\n"
            f"version {generation}\n"
            f"linux /{kernel}\n"
            f"initrd /{initrd}\n"
            f"options {options}\n")
    path = esp / ENTRIES_DIR / name.filename
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(path, text.encode())
    set_default_pattern(esp)
    return read_entry(path)


def bless(esp: Path, entry: str | Path) -> Path:
    """Mark the entry good: drop its counter by renaming (`llmos-2+1-2.conf` -> `llmos-2.conf`). Takes
    an entry id, a file name, or the LoaderBootCountPath value; a blessed entry is left as it is."""
    path = _locate(esp, entry)
    name = parse_name(path.name)
    if not name.counting:
        return path
    target = path.with_name(name.blessed().filename)
    if target.exists():
        raise LoaderError(f"{target}: already exists; cannot bless {path.name}")
    atomic.rename(path, target)
    return target


def mark_bad(esp: Path, entry: str | Path) -> Path:
    """Use up the entry's tries now (`+0-DONE`), for a boot known to be broken: the next boot falls back."""
    path = _locate(esp, entry)
    name = parse_name(path.name)
    target = path.with_name(EntryName(name.stem, 0, name.tries_done + (name.tries_left or 0)).filename)
    if target != path:
        atomic.rename(path, target)
    return target


def _locate(esp: Path, entry: str | Path) -> Path:
    text = str(entry).replace("\\", "/")
    if "/" in text:  # a path: absolute, or relative to the ESP as LoaderBootCountPath gives it
        candidate = Path(text) if Path(text).is_absolute() and Path(text).exists() else esp / text.lstrip("/")
        if candidate.is_file():
            return candidate
        text = candidate.name
    found = find(esp, text)
    if found is None:
        raise LoaderError(f"no loader entry {text!r} under {esp / ENTRIES_DIR}")
    return found.path


@dataclass(frozen=True)
class Rollback:
    """The last update used up its tries and systemd-boot went back to an older entry."""

    failed: Entry
    booted: Entry | None

    @property
    def message(self) -> str:
        back = (f"; running {self.booted.os_version or self.booted.name.stem} on slot {self.booted.slot}"
                if self.booted else "")
        return (f"the update to {self.failed.os_version or self.failed.name.stem} (slot {self.failed.slot}) "
                f"was rolled back: it failed to boot {self.failed.name.tries_done} times{back}")


def rolled_back(esp: Path, booted_id: str | None) -> Rollback | None:
    """Whether the booted entry is older than an entry whose tries are used up (`+0-N`): then that
    newer entry was tried and given up on. booted_id is LoaderEntrySelected (any systemd-boot form)."""
    booted = find(esp, booted_id) if booted_id else None
    failed = [e for e in entries(esp) if e.name.bad and (booted is None or e.generation > booted.generation)]
    if not failed:
        return None
    return Rollback(max(failed, key=lambda e: e.generation), booted)


# --- EFI variables systemd-boot leaves for the OS ----------------------------------------------------

def read_efi_string(efivars: Path, name: str) -> str | None:
    """A systemd-boot string variable from efivarfs: 4 bytes of attributes, then UTF-16LE, NUL-ended."""
    try:
        raw = (efivars / f"{name}-{LOADER_GUID}").read_bytes()
    except OSError:
        return None
    return raw[4:].decode("utf-16-le", errors="replace").split("\0", 1)[0] or None


def selected_entry(efivars: Path = Path("/sys/firmware/efi/efivars")) -> str | None:
    """The id of the entry this boot came from (LoaderEntrySelected)."""
    return read_efi_string(efivars, "LoaderEntrySelected")


def boot_count_path(efivars: Path = Path("/sys/firmware/efi/efivars")) -> str | None:
    """ESP-relative path of the counting entry this boot renamed (LoaderBootCountPath), for bless()."""
    return read_efi_string(efivars, "LoaderBootCountPath")
