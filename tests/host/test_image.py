"""The image build's own error paths and the pieces mkosi runs mid-build (the initramfs archive, the ESP)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from llmos.host import esp, image, initramfs


def test_missing_host_tools_name_the_package_and_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(image.BuildError) as raised:
        image.check_host_tools()
    message = str(raised.value)
    assert "mkosi (package mkosi (from bookworm-backports))" in message
    assert "mkfs.vfat (package dosfstools)" in message
    assert "ci/install-host.sh" in message and "apt-get install" in message


def test_broken_mkosi_configuration_shows_mkosis_own_error(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    variant = image.REPO / "images" / "broken-test-variant"
    variant.mkdir()
    try:
        (variant / "mkosi.conf").write_text("[Content]\nNoSuchSetting=yes\n")
        monkeypatch.setenv("LLMOS_CACHE_DIR", str(tmp_path / "cache"))
        with pytest.raises(image.BuildError) as raised:
            image.run_mkosi("broken-test-variant", tmp_path / "out", [], progress=lambda _line: None)
    finally:
        (variant / "mkosi.conf").unlink()
        variant.rmdir()
    assert "mkosi failed" in str(raised.value)
    assert "Unknown setting NoSuchSetting" in str(raised.value)  # mkosi's own words


def test_unknown_variant_and_kiosk_without_app_are_refused(tmp_path: Path) -> None:
    with pytest.raises(image.BuildError, match="unknown variant"):
        image.build("floppy", output_root=tmp_path)
    with pytest.raises(image.BuildError, match="--kiosk-app"):
        image.config_tree(tmp_path, "kiosk", None)
    tree = image.config_tree(tmp_path, "kiosk", "sha256:abc")
    assert 'app = "sha256:abc"' in (tree / "etc/llmos/llmos.toml").read_text()


def test_the_initramfs_archive_is_a_cpio_the_kernel_and_cpio_can_read(tmp_path: Path) -> None:
    archive = initramfs.Archive()
    archive.add_file("init", b"#!/bin/sh\n", 0o755)
    archive.add_file("usr/lib/modules/x/a.ko", b"\x7fELF" + bytes(3))
    archive.add_symlink("lib", "usr/lib")
    archive.add_char_device("dev/console", 5, 1)
    listing = subprocess.run(["cpio", "-itv"], input=archive.write(), capture_output=True, check=True).stdout
    lines = listing.decode().splitlines()
    assert any(line.startswith("crw") and "dev/console" in line and "5," in line for line in lines), lines
    assert any(line.startswith("lrwx") and "lib -> usr/lib" in line for line in lines), lines
    assert any(line.startswith("-rwxr-xr-x") and line.endswith(" init") for line in lines), lines
    assert any(line.endswith("usr/lib/modules/x/a.ko") for line in lines)
    assert any(line.startswith("d") and line.endswith("usr/lib/modules") for line in lines)


def test_the_esp_boots_systemd_boot_from_the_removable_media_path(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/lib/systemd/boot/efi").mkdir(parents=True)
    (root / esp.SYSTEMD_BOOT).write_bytes(b"MZ-systemd-boot")
    (tmp_path / "vmlinuz").write_bytes(b"kernel")
    (tmp_path / "initrd").write_bytes(b"initrd")
    out = esp.lay_out(root, tmp_path / "vmlinuz", tmp_path / "initrd", "console=ttyS0 panic=-1", "LLM OS")
    assert (out / "EFI/BOOT/BOOTX64.EFI").read_bytes() == b"MZ-systemd-boot"
    entry = (out / "loader/entries/llmos.conf").read_text()
    assert "linux /llmos/vmlinuz" in entry and "initrd /llmos/initrd" in entry
    assert "options console=ttyS0 panic=-1" in entry
    assert (out / "llmos/initrd").read_bytes() == b"initrd"
    assert "editor no" in (out / "loader/loader.conf").read_text().splitlines()  # no cmdline editing at boot
