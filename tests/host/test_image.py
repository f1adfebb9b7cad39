"""The image build's own error paths and the pieces mkosi runs mid-build (the initramfs archive, the ESP)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
    entry = (out / "loader/entries/llmos-1.conf").read_text()
    assert "linux /llmos/a/vmlinuz" in entry and "initrd /llmos/a/initrd" in entry
    assert "options llmos.slot=a console=ttyS0 panic=-1" in entry
    assert (out / "llmos/a/initrd").read_bytes() == b"initrd"
    loader_conf = (out / "loader/loader.conf").read_text().splitlines()
    assert "editor no" in loader_conf and "default llmos-*" in loader_conf  # no cmdline editing at boot
    # the update side reads the factory entry as slot a's, blessed (no try counter)
    from llmos.update import loader
    [factory] = loader.entries(out)
    assert factory.slot == "a" and not factory.name.counting and loader.default_entry(out) == factory


def _checkout(root: Path) -> Path:
    for name, text in {"kernel/api.py": "x = 1\n", "images/qemu/mkosi.conf": "[Output]\n",
                       "mkosi.conf": "[Distribution]\n", "pyproject.toml": "[project]\n"}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_an_image_is_up_to_date_only_while_its_inputs_are_unchanged(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _checkout(tmp_path / "repo")
    monkeypatch.setattr(image, "REPO", repo)
    output = repo / "build/images/qemu"
    built: list[str] = []

    def fake_build(variant: str, output_root: Path | None = None, kiosk_app: str | None = None,
                   progress: image.Progress = print, image_version: str = "1") -> image.BuildResult:
        built.append(variant)  # what build() does at its end: the disk, then the record of its inputs
        output.mkdir(parents=True, exist_ok=True)
        (output / "llmos-qemu.raw").write_bytes(b"disk")
        (output / image.INPUTS_RECORD).write_text(json.dumps(image.input_digests(
            variant, kiosk_app, image_version=image_version)))
        return image.BuildResult(output, output / "llmos-qemu.raw", 0.0)

    monkeypatch.setattr(image, "build", fake_build)
    said: list[str] = []
    assert image.stale_inputs(output, "qemu") == [f"no image at {output / 'llmos-qemu.raw'}"]
    image.ensure_built("qemu", progress=said.append)
    assert built == ["qemu"]

    image.ensure_built("qemu", progress=said.append)  # nothing changed: reused, and it says so
    assert built == ["qemu"] and said[-1] == f"image up to date: {output / 'llmos-qemu.raw'}"
    assert image.stale_inputs(output, "qemu", image_version="2") == ["(settings)"]  # another version

    (repo / "kernel/api.py").touch()  # a newer mtime alone (a checkout, an editor) is no change
    os.utime(repo / "mkosi.conf", (0, 0))
    assert image.stale_inputs(output, "qemu") == []

    (repo / "kernel/api.py").write_text("x = 2\n")  # an edit
    assert image.stale_inputs(output, "qemu") == ["kernel/api.py"]
    image.ensure_built("qemu", progress=said.append)
    assert built == ["qemu", "qemu"] and said[-1] != said[-2]
    assert "image out of date: kernel/api.py" in said

    (repo / "kernel/api.py").unlink()  # a deleted input, which an mtime check cannot see
    (repo / "kernel/new.py").write_text("")
    assert image.stale_inputs(output, "qemu") == ["kernel/api.py", "kernel/new.py"]
    (repo / "kernel/__pycache__").mkdir()
    (repo / "kernel/__pycache__/new.cpython-311.pyc").write_bytes(b"")  # not an input
    assert image.stale_inputs(output, "qemu") == ["kernel/api.py", "kernel/new.py"]
    assert image.stale_inputs(output, "qemu", kiosk_app="sha256:abc")[0] == "(settings)"

    (output / image.INPUTS_RECORD).unlink()  # a disk from an interrupted or older build is not trusted
    assert image.stale_inputs(output, "qemu") == [f"no record of its inputs ({output / image.INPUTS_RECORD})"]

    monkeypatch.setenv("LLMOS_REBUILD", "1")
    image.ensure_built("qemu", progress=said.append)
    image.ensure_built("qemu", progress=said.append)
    assert built == ["qemu"] * 4


def test_the_image_version_is_stamped_for_os_release_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    """mkosi.postinst copies usr/lib/llmos/image-version into os-release as IMAGE_VERSION, which
    `llmos update` reads as the running version and `llmos image bundle` as the bundle's."""
    tree = image.version_tree(tmp_path, "1.4.0")
    assert (tree / "usr/lib/llmos/image-version").read_text() == "1.4.0\n"
    for bad in ("", "2+b", "two words", "-1"):
        with pytest.raises(image.BuildError, match="image version"):
            image.version_tree(tmp_path, bad)
    postinst = (image.REPO / "mkosi.postinst").read_text()
    assert "usr/lib/llmos/image-version" in postinst and "IMAGE_VERSION=" in postinst


def test_pruning_the_dependencies_keeps_packages_and_drops_pip_tests_and_scripts(tmp_path: Path) -> None:
    for path in ("bin/sqlite-utils", "pip/__init__.py", "pip-26.3.dist-info/METADATA",
                 "numpy/__init__.py", "numpy/_core/tests/test_a.py", "numpy/tests/test_b.py",
                 "numpy/testing/__init__.py", "dulwich/tests/utils.py", "tests.py",
                 "lib/libllama.so", "lib/cmake/llama/llama-config.cmake", "include/llama.h"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    image.prune_dependencies(tmp_path)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["numpy/__init__.py", "numpy/testing/__init__.py", "tests.py"]


def test_pruning_strips_symbol_tables_where_the_result_still_loads(tmp_path: Path) -> None:
    """The venv's real numpy: its extension modules lose their symbol tables, its OpenBLAS (which
    patchelf rewrote, and which strip would leave with a misaligned load segment) keeps its own, and
    numpy still imports and multiplies matrices through OpenBLAS."""
    import numpy

    package = Path(numpy.__file__).parent
    for name in ("numpy", "numpy.libs"):
        shutil.copytree(package.with_name(name), tmp_path / name)
    (blas,) = (tmp_path / "numpy.libs").glob("libscipy_openblas*.so")
    broken = tmp_path / "broken.so"
    subprocess.run(["strip", "--strip-unneeded", "-o", str(broken), str(blas)], check=True)
    assert not image.loadable(broken) and image.loadable(blas)  # what the check is for
    broken.unlink()
    symbols = [p for p in (tmp_path / "numpy").rglob("*.so") if image._has_symbol_table(p)]
    image.prune_dependencies(tmp_path)
    assert image._has_symbol_table(blas)
    assert symbols and not any(image._has_symbol_table(p) for p in symbols)
    probe = subprocess.run([sys.executable, "-c", "import numpy; a = numpy.ones((64, 64)); "
                            "print(int((a @ a).sum()))"], cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(tmp_path)}, capture_output=True, text=True)
    assert probe.returncode == 0 and probe.stdout.strip() == str(64 ** 3), probe.stderr
