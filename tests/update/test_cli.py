"""The commands end to end on real files: keygen and bundle on the host, apply and status in the image.
Every refusal leaves both slots and the ESP byte for byte as they were."""

from __future__ import annotations

import functools
import http.server
import os
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakesysfs import add_disk, add_partition

from llmos.cli import main
from llmos.update import loader, slots

from .served import Served

Capture = pytest.CaptureFixture[str]

SLOT_SIZE = 400_000


class Machine:
    """Two slot files, an ESP with a blessed entry for slot a (version 1), a state dir, a public key."""

    def __init__(self, root: Path, public_key: Path) -> None:
        self.root, self.key = root, public_key
        self.slot_a, self.slot_b = root / "slot-a", root / "slot-b"
        self.slot_a.write_bytes(b"A" * SLOT_SIZE)
        self.slot_b.write_bytes(b"B" * SLOT_SIZE)
        self.esp, self.state = root / "esp", root / "data" / "update" / "state.json"
        (self.esp / "loader").mkdir(parents=True)
        (self.esp / "loader/loader.conf").write_text("default llmos-*\ntimeout 0\neditor no\n")
        kernel, initrd = loader.boot_files("a")
        (self.esp / kernel).parent.mkdir(parents=True)
        (self.esp / kernel).write_bytes(b"kernel 1")
        (self.esp / initrd).write_bytes(b"initrd 1")
        first = loader.install_entry(self.esp, os_version="1", slot="a",
                                     options="root=PARTUUID=aaaa llmos.slot=a console=ttyS0")
        loader.bless(self.esp, first.path)

    def args(self, *extra: str, booted: str = "llmos-1.conf", slot_b: Path | None = None) -> list[str]:
        return ["--esp", str(self.esp), "--slot-a", str(self.slot_a), "--slot-b", str(slot_b or self.slot_b),
                "--root-a", "PARTUUID=aaaa", "--root-b", "PARTUUID=bbbb", "--active", "a",
                "--state", str(self.state), "--key", str(self.key), "--arch", "x86_64",
                "--running-version", "1", "--options", "console=ttyS0", "--booted-entry", booted, *extra]

    def snapshot(self) -> dict[str, bytes]:
        files = {p: p.read_bytes() for p in (self.slot_a, self.slot_b)}
        files.update({p: p.read_bytes() for p in self.esp.rglob("*") if p.is_file()})
        return {str(p): data for p, data in files.items()}


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """Key pair and parts made with the host commands."""
    assert main(["image", "keygen", "--out", str(tmp_path / "keys")]) == 0
    parts = tmp_path / "parts"
    parts.mkdir()
    squashfs_root(parts, bytes(range(256)) * 1000 + b"tail")
    (parts / "vmlinuz").write_bytes(b"kernel 2")
    (parts / "initrd").write_bytes(b"initrd 2")
    return tmp_path


def squashfs_root(parts: Path, payload: bytes, os_release: str | None = None) -> Path:
    """parts/root.img: a root as the build makes it (squashfs), here uncompressed so its size is the
    payload's, with an os-release when given."""
    tree = parts / "tree"
    subprocess.run(["rm", "-rf", str(tree)], check=True)
    (tree / "usr/lib").mkdir(parents=True)
    (tree / "payload").write_bytes(payload)
    if os_release is not None:
        (tree / "usr/lib/os-release").write_text(os_release)
    subprocess.run(["mksquashfs", str(tree), str(parts / "root.img"), "-noappend", "-quiet", "-noI", "-noD",
                    "-noF", "-noX"], check=True, capture_output=True)
    return parts / "root.img"


def bundle(host: Path, version: str = "2", arch: str = "x86_64", key: str = "keys") -> Path:
    out = host / f"llmos-{version}-{arch}-{key}.bundle"
    if key != "keys" and not (host / key).exists():
        assert main(["image", "keygen", "--out", str(host / key)]) == 0
    assert main(["image", "bundle", "--key", str(host / key / "update-ed25519.pem"), "--version", version,
                 "--root", str(host / "parts/root.img"), "--kernel", str(host / "parts/vmlinuz"),
                 "--initrd", str(host / "parts/initrd"), "--arch", arch, "-o", str(out)]) == 0
    return out


@pytest.fixture
def machine(host: Path) -> Machine:
    (host / "machine").mkdir()
    return Machine(host / "machine", host / "keys" / "update-ed25519.pub")


def status(machine: Machine, capsys: Capture, booted: str = "llmos-1.conf") -> str:
    capsys.readouterr()
    assert main(["update", "status", *machine.args(booted=booted)]) == 0
    return capsys.readouterr().out


def test_keygen_and_bundle(host: Path, capsys: Capture) -> None:
    assert (host / "keys/update-ed25519.pem").stat().st_mode & 0o777 == 0o600
    capsys.readouterr()
    path = bundle(host)
    out = capsys.readouterr().out
    assert path.exists() and "version 2 for x86_64" in out
    assert main(["image", "keygen", "--out", str(host / "keys")]) == 1  # never replaces a key silently
    assert "refusing to replace" in capsys.readouterr().err
    assert main(["image", "bundle", "--key", str(host / "keys/update-ed25519.pub"), "--version", "2",
                 "--root", str(host / "parts/root.img"), "--kernel", str(host / "parts/vmlinuz"),
                 "--initrd", str(host / "parts/initrd"), "-o", str(host / "x.bundle")]) == 1
    assert "this is a public key" in capsys.readouterr().err


def test_a_bundle_carries_the_version_its_root_says(host: Path, capsys: Capture) -> None:
    """The root's os-release IMAGE_VERSION is the bundle's version: --version may be left out, and a
    different one is refused, as is a root that is not squashfs."""
    squashfs_root(host / "parts", b"root", os_release='ID=llmos\nIMAGE_VERSION="3"\n')
    parts = ["--root", str(host / "parts/root.img"), "--kernel", str(host / "parts/vmlinuz"),
             "--initrd", str(host / "parts/initrd")]
    key = ["--key", str(host / "keys/update-ed25519.pem")]
    capsys.readouterr()
    assert main(["image", "bundle", *key, *parts, "-o", str(host / "3.bundle")]) == 0
    assert "version 3 for x86_64" in capsys.readouterr().out
    assert main(["image", "bundle", *key, "--version", "2", *parts, "-o", str(host / "2.bundle")]) == 1
    assert "says IMAGE_VERSION=3, not 2" in capsys.readouterr().err and not (host / "2.bundle").exists()
    (host / "parts/root.img").write_bytes(b"\0" * 8192)
    assert main(["image", "bundle", *key, "--version", "2", *parts, "-o", str(host / "2.bundle")]) == 1
    assert "the root is not a squashfs file system" in capsys.readouterr().err


def test_apply_writes_the_inactive_slot_and_boots_it_next(host: Path, machine: Machine,
                                                          capsys: Capture) -> None:
    path = bundle(host, "2")
    active_before = machine.slot_a.read_bytes()
    assert main(["update", "apply", str(path), *machine.args()]) == 0
    out, err = capsys.readouterr()
    assert "Installed 2 on slot b" in out and "llmos-2+3.conf" in out
    assert "write slot b" in err and "read back slot b" in err  # progress on the long write
    root = (host / "parts/root.img").read_bytes()
    assert machine.slot_b.read_bytes() == root  # the plain file holds exactly the image
    assert machine.slot_a.read_bytes() == active_before
    assert (machine.esp / "llmos/b/vmlinuz").read_bytes() == b"kernel 2"
    assert (machine.esp / "llmos/b/initrd").read_bytes() == b"initrd 2"
    entry = (machine.esp / "loader/entries/llmos-2+3.conf").read_text()
    assert "options root=PARTUUID=bbbb llmos.slot=b console=ttyS0\n" in entry
    report = status(machine, capsys)
    assert "slot b" in report and "on-trial, version 2" in report and "3 tries left" in report
    assert "Next boot: llmos-2+3.conf." in report and "Last update: installed" in report


def _refused(machine: Machine, capsys: Capture, source: str, check: str,
             *extra: str) -> str:
    before = machine.snapshot()
    capsys.readouterr()
    assert main(["update", "apply", source, *machine.args(*extra)]) == 2
    err = capsys.readouterr().err
    assert (not check or f"refused ({check})" in err) and "Nothing was written" in err
    assert machine.snapshot() == before  # not a byte of either slot, nor of the ESP
    return err


def test_bad_signature_is_refused(host: Path, machine: Machine, capsys: Capture) -> None:
    path = bundle(host)
    data = bytearray(path.read_bytes())
    at = data.index(b"manifest.sig") + 512  # the signature's data follows its 512-byte header
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    _refused(machine, capsys, str(path), "signature")
    assert "refused (signature)" in status(machine, capsys)


def test_wrong_key_is_refused(host: Path, machine: Machine, capsys: Capture) -> None:
    _refused(machine, capsys, str(bundle(host, key="other-keys")), "wrong-key")


def test_truncated_bundle_is_refused(host: Path, machine: Machine, capsys: Capture) -> None:
    path = bundle(host)
    path.write_bytes(path.read_bytes()[:150_000])
    _refused(machine, capsys, str(path), "truncated")


def test_other_architecture_is_refused(host: Path, machine: Machine,
                                       capsys: Capture) -> None:
    _refused(machine, capsys, str(bundle(host, arch="aarch64")), "arch")


def test_oversized_bundle_is_refused(host: Path, machine: Machine, capsys: Capture) -> None:
    _refused(machine, capsys, str(bundle(host)), "size", "--max-bytes", "100000")


def test_not_newer_is_refused_unless_forced(host: Path, machine: Machine,
                                            capsys: Capture) -> None:
    path = bundle(host, "1")
    _refused(machine, capsys, str(path), "version")
    assert main(["update", "apply", str(path), "--force", *machine.args()]) == 0


def test_wrong_trusted_key_file_is_refused(host: Path, machine: Machine,
                                           capsys: Capture) -> None:
    machine.key.write_text("garbage\n")
    before = machine.snapshot()
    assert main(["update", "apply", str(bundle(host)), *machine.args()]) == 2
    assert "not a public key" in capsys.readouterr().err
    assert machine.snapshot() == before


def test_the_running_slot_is_never_the_target(host: Path, machine: Machine, capsys: Capture) -> None:
    _refused(machine, capsys, str(bundle(host)), "", "--slot-b", str(machine.slot_a))
    assert "is the running slot a" in status(machine, capsys)


@pytest.mark.skipif(os.geteuid() != 0, reason="device nodes need root (mknod)")
def test_a_slot_on_another_disk_than_the_running_root_is_never_the_target(
        host: Path, machine: Machine, capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of the image attached (a USB stick flashed from it) has a slot b too, with the same label."""
    sysfs = host / "sys"
    add_disk(sysfs, "vda", os.makedev(4000, 0))
    add_partition(sysfs, "vda", 2, os.stat("/").st_dev, "llmos-root-a")  # the running root
    add_disk(sysfs, "vdb", os.makedev(4001, 0))
    add_partition(sysfs, "vdb", 3, os.makedev(4001, 3), "llmos-root-b")
    monkeypatch.setenv("LLMOS_SYSFS", str(sysfs))
    other = host / "vdb3"
    os.mknod(other, stat.S_IFBLK | 0o600, os.makedev(4001, 3))  # never opened: the refusal comes first
    err = _refused(machine, capsys, str(bundle(host)), "", "--slot-b", str(other))
    assert f"slot b ({other}) is on vdb, not on vda, the disk LLM OS runs from" in err


def test_write_error_marks_the_slot_invalid(host: Path, machine: Machine,
                                            capsys: Capture) -> None:
    path = bundle(host)
    assert main(["update", "apply", str(path), *machine.args(slot_b=Path("/dev/full"))]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "marked invalid" in err
    assert not list((machine.esp / "loader/entries").glob("*+*"))  # nothing offers slot b for boot
    report = status(machine, capsys)
    assert "slot b" in report and "invalid" in report and "Last update: failed" in report
    # A later apply to a working device succeeds.
    assert main(["update", "apply", str(path), *machine.args()]) == 0


def test_an_interrupted_write_is_not_bootable_and_a_later_apply_succeeds(host: Path, machine: Machine,
                                                                         capsys: Capture) -> None:
    """A power cut mid-write: the state file still says writing, the slot holds half an image."""
    path = bundle(host)
    slots.update_slot(machine.state, "b", slots.SlotRecord(slots.WRITING, "2"))
    machine.slot_b.write_bytes((host / "parts/root.img").read_bytes()[:1000])
    report = status(machine, capsys)
    assert "incomplete" in report and "Next boot: llmos-1.conf." in report
    assert main(["update", "apply", str(path), *machine.args()]) == 0
    assert machine.slot_b.read_bytes() == (host / "parts/root.img").read_bytes()
    assert "on-trial, version 2" in status(machine, capsys)


def test_rollback_is_reported(host: Path, machine: Machine, capsys: Capture) -> None:
    assert main(["update", "apply", str(bundle(host)), *machine.args()]) == 0
    entries = machine.esp / "loader/entries"
    for old, new in (("+3", "+2-1"), ("+2-1", "+1-2"), ("+1-2", "+0-3")):  # three boots never became good
        (entries / f"llmos-2{old}.conf").rename(entries / f"llmos-2{new}.conf")
    report = status(machine, capsys, booted="llmos-1.conf")
    assert "ROLLED BACK: the update to 2 (slot b) was rolled back: it failed to boot 3 times" in report
    assert "failed, version 2" in report and "Next boot: llmos-1.conf." in report


@pytest.fixture
def server(host: Path) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(host))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_apply_from_a_url(host: Path, machine: Machine, server: str, capsys: Capture) -> None:
    path = bundle(host)
    assert main(["update", "apply", f"{server}/{path.name}", *machine.args()]) == 0
    assert "download" in capsys.readouterr().err
    assert machine.slot_b.read_bytes() == (host / "parts/root.img").read_bytes()
    assert not list(machine.state.parent.glob(".bundle-*"))  # the download is removed afterwards


def test_url_refusals_and_errors(host: Path, machine: Machine, server: str,
                                 capsys: Capture) -> None:
    path = bundle(host)
    _refused(machine, capsys, f"{server}/{path.name}", "size", "--max-bytes", "1000")
    before = machine.snapshot()
    assert main(["update", "apply", f"{server}/missing.bundle", *machine.args()]) == 1
    assert "HTTP 404" in capsys.readouterr().err
    assert machine.snapshot() == before
    assert not list(machine.state.parent.glob(".bundle-*"))


def test_a_download_is_refused_on_its_manifest_before_the_rest_comes(host: Path, machine: Machine,
                                                                    capsys: Capture) -> None:
    """A bundle signed by another key, or for another machine, is refused after its first kilobytes:
    the server sees the client hang up long before the gigabyte behind them."""
    squashfs_root(host / "parts", bytes(range(256)) * (64 << 12))  # 64 MiB
    served = Served(host)
    try:
        stranger, arm = bundle(host, key="stranger"), bundle(host, arch="aarch64")
        for path, check in ((stranger, "wrong-key"), (arm, "arch")):
            served.requests.clear()
            before = machine.snapshot()
            assert main(["update", "apply", served.url(path.name), *machine.args()]) != 0
            assert f"({check})" in capsys.readouterr().err
            assert machine.snapshot() == before
            (_, sent), = served.responses(1)  # the server finished the response
            assert sent < path.stat().st_size // 4, (sent, path.stat().st_size)
    finally:
        served.close()
    assert not list(machine.state.parent.glob(".bundle-*"))
