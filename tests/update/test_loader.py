"""Boot counting names, renames, the default entry and rollback detection on a real ESP directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos.update import loader
from llmos.update.loader import EntryName, parse_name

LEGACY_CONF = "default llmos.conf\ntimeout 0\nconsole-mode keep\neditor no\n"  # what host/esp.py writes


@pytest.mark.parametrize("filename,stem,left,done", [
    ("llmos-2+3.conf", "llmos-2", 3, 0),
    ("llmos-2+2-1.conf", "llmos-2", 2, 1),
    ("llmos-2+0-3.conf", "llmos-2", 0, 3),
    ("llmos-2.conf", "llmos-2", None, 0),
    ("llmos-1.4.0-rc1+3.conf", "llmos-1.4.0-rc1", 3, 0),
    ("a+b.conf", "a+b", None, 0),  # not digits: no counting, as in systemd-boot
    ("a+3-.conf", "a+3-", None, 0),
    ("a+3x.conf", "a+3x", None, 0),
    ("x+1+2.conf", "x+1", 2, 0),  # the last '+' carries the counter
])
def test_parse_name(filename: str, stem: str, left: int | None, done: int) -> None:
    name = parse_name(filename)
    assert (name.stem, name.tries_left, name.tries_done) == (stem, left, done)
    if left is not None:
        assert name.filename == filename.replace("-0.conf", ".conf")


def test_not_an_entry() -> None:
    with pytest.raises(loader.LoaderError):
        parse_name("llmos-2+3.conf.bak")


def test_attempts_count_down_like_systemd_boot() -> None:
    name = parse_name("llmos-2+3.conf")
    seen = []
    for _ in range(3):
        name = name.attempted()
        seen.append(name.filename)
    assert seen == ["llmos-2+2-1.conf", "llmos-2+1-2.conf", "llmos-2+0-3.conf"]
    assert name.bad and name.attempted().filename == "llmos-2+0-4.conf"
    assert name.blessed().filename == "llmos-2.conf"
    assert EntryName("llmos-2").attempted() == EntryName("llmos-2")


@pytest.mark.parametrize("given",
                         ["llmos-2.conf", "llmos-2", "LLMOS-2.conf", "llmos-2+2-1.conf", "llmos-2+3"])
def test_ids_in_every_form_systemd_boot_reports(given: str) -> None:
    assert loader.normalize_id(given) == "llmos-2.conf"


def _esp(tmp_path: Path) -> Path:
    esp = tmp_path / "esp"
    (esp / "loader/entries").mkdir(parents=True)
    (esp / "loader/loader.conf").write_text(LEGACY_CONF)
    for slot in "ab":
        kernel, initrd = loader.boot_files(slot)
        (esp / kernel).parent.mkdir(parents=True, exist_ok=True)
        (esp / kernel).write_bytes(b"kernel " + slot.encode())
        (esp / initrd).write_bytes(b"initrd " + slot.encode())
    return esp


def _install(esp: Path, version: str, slot: str) -> loader.Entry:
    options = loader.slot_options("console=ttyS0 quiet", slot, f"PARTUUID={slot * 8}")
    return loader.install_entry(esp, os_version=version, slot=slot, options=options)


def _boot(esp: Path) -> loader.Entry:
    """What systemd-boot does at power-on: pick the default, bump its counter, boot it."""
    entry = loader.default_entry(esp)
    assert entry is not None
    renamed = entry.path.with_name(entry.name.attempted().filename)
    entry.path.rename(renamed)
    return loader.read_entry(renamed)


def test_install_writes_a_counting_entry_and_makes_it_the_default(tmp_path: Path) -> None:
    esp = _esp(tmp_path)
    first = _install(esp, "1", "a")
    loader.bless(esp, first.path.name)
    entry = _install(esp, "2", "b")
    assert entry.path.name == "llmos-2+3.conf"
    text = entry.path.read_text()
    for line in ("title LLM OS 2 (slot b)", "sort-key llmos", "version 2", "linux /llmos/b/vmlinuz",
                 "initrd /llmos/b/initrd", "options root=PARTUUID=bbbbbbbb llmos.slot=b console=ttyS0 quiet"):
        assert line + "\n" in text
    assert (entry.slot, entry.os_version, entry.generation) == ("b", "2", 2)
    conf = (esp / "loader/loader.conf").read_text().splitlines()
    assert conf[0] == "default llmos-*" and "default llmos.conf" not in conf
    assert {"timeout 0", "console-mode keep", "editor no"} <= set(conf)  # the rest is kept
    default = loader.default_entry(esp)
    assert default is not None and default.path == entry.path


def test_a_downgrade_is_still_the_next_boot(tmp_path: Path) -> None:
    """The generation, not the OS version, orders entries: a forced older version boots next too."""
    esp = _esp(tmp_path)
    loader.bless(esp, _install(esp, "5", "a").path)
    downgrade = _install(esp, "4", "b")
    default = loader.default_entry(esp)
    assert default is not None and default.path == downgrade.path


def test_good_boot_is_blessed(tmp_path: Path) -> None:
    esp = _esp(tmp_path)
    loader.bless(esp, _install(esp, "1", "a").path)
    _install(esp, "2", "b")
    booted = _boot(esp)
    assert booted.path.name == "llmos-2+2-1.conf"
    blessed = loader.bless(esp, "\\loader\\entries\\llmos-2+2-1.conf")  # as LoaderBootCountPath says it
    assert blessed.name == "llmos-2.conf" and not booted.path.exists()
    assert loader.bless(esp, "llmos-2.conf") == blessed  # blessing twice changes nothing
    assert _boot(esp).path.name == "llmos-2.conf"  # no counting any more
    assert loader.rolled_back(esp, "llmos-2.conf") is None


def test_used_up_tries_fall_back_and_report_the_rollback(tmp_path: Path) -> None:
    esp = _esp(tmp_path)
    loader.bless(esp, _install(esp, "1", "a").path)
    _install(esp, "2", "b")
    for expected in ("llmos-2+2-1.conf", "llmos-2+1-2.conf", "llmos-2+0-3.conf"):
        assert _boot(esp).path.name == expected  # three boots that never become good
    fallback = _boot(esp)
    assert fallback.path.name == "llmos-1.conf" and fallback.slot == "a"
    for booted_id in ("llmos-1.conf", "llmos-1"):
        rollback = loader.rolled_back(esp, booted_id)
        assert rollback is not None and rollback.failed.os_version == "2"
        assert "rolled back" in rollback.message and "3 times" in rollback.message
        assert "running 1 on slot a" in rollback.message
    # The next update goes to the failed slot and clears the failed entry.
    entry = _install(esp, "3", "b")
    assert [e.path.name for e in loader.entries(esp)] == ["llmos-3+3.conf", "llmos-1.conf"]
    assert entry.generation == 3 and loader.rolled_back(esp, "llmos-1.conf") is None


def test_a_failed_entry_older_than_the_booted_one_is_no_rollback(tmp_path: Path) -> None:
    esp = _esp(tmp_path)
    old = _install(esp, "1", "a")
    loader.mark_bad(esp, old.path)
    newer = _install(esp, "2", "b")
    assert loader.rolled_back(esp, newer.path.name) is None


def test_install_replaces_the_slots_previous_entry(tmp_path: Path) -> None:
    esp = _esp(tmp_path)
    loader.bless(esp, _install(esp, "1", "a").path)
    _install(esp, "2", "b")
    _install(esp, "3", "b")
    assert sorted(p.name for p in (esp / "loader/entries").iterdir()) == ["llmos-1.conf", "llmos-3+3.conf"]


def test_same_version_on_both_slots_gets_distinct_names(tmp_path: Path) -> None:
    esp = _esp(tmp_path)
    loader.bless(esp, _install(esp, "2", "a").path)
    again = _install(esp, "2", "b")
    assert again.path.name == "llmos-2-b+3.conf"
    assert loader.bless(esp, again.path).name == "llmos-2-b.conf"


def test_mark_bad_uses_up_the_tries(tmp_path: Path) -> None:
    esp = _esp(tmp_path)
    loader.bless(esp, _install(esp, "1", "a").path)
    _install(esp, "2", "b")
    booted = _boot(esp)
    bad = loader.mark_bad(esp, booted.path.name)
    assert bad.name == "llmos-2+0-3.conf"
    default = loader.default_entry(esp)
    assert default is not None and default.path.name == "llmos-1.conf"


def test_missing_boot_files_or_entries(tmp_path: Path) -> None:
    esp = _esp(tmp_path)
    (esp / "llmos/b/initrd").unlink()
    with pytest.raises(loader.LoaderError, match="initrd: missing"):
        _install(esp, "2", "b")
    with pytest.raises(loader.LoaderError, match="no loader entry"):
        loader.bless(esp, "llmos-9.conf")
    with pytest.raises(loader.LoaderError, match="tries"):
        loader.install_entry(esp, os_version="2", slot="a", options="", tries=0)


def test_no_loader_conf_yet(tmp_path: Path) -> None:
    esp = _esp(tmp_path)
    (esp / "loader/loader.conf").unlink()
    _install(esp, "1", "a")
    assert (esp / "loader/loader.conf").read_text() == "default llmos-*\n"


def test_slot_options_replace_root_and_slot() -> None:
    options = loader.slot_options("root=PARTUUID=old llmos.slot=a console=ttyS0 quiet", "b", "PARTUUID=new")
    assert options == "root=PARTUUID=new llmos.slot=b console=ttyS0 quiet"


def test_efi_variables(tmp_path: Path) -> None:
    name = f"LoaderEntrySelected-{loader.LOADER_GUID}"
    (tmp_path / name).write_bytes(b"\x06\x00\x00\x00" + "llmos-2+2-1.conf\0".encode("utf-16-le"))
    (tmp_path / f"LoaderBootCountPath-{loader.LOADER_GUID}").write_bytes(
        b"\x06\x00\x00\x00" + "\\loader\\entries\\llmos-2+2-1.conf\0".encode("utf-16-le"))
    assert loader.selected_entry(tmp_path) == "llmos-2+2-1.conf"
    assert loader.boot_count_path(tmp_path) == "\\loader\\entries\\llmos-2+2-1.conf"
    assert loader.read_efi_string(tmp_path, "LoaderEntryOneShot") is None
