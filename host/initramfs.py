"""Build LLM OS's initramfs from a finished root tree: Python, stage 1 and the storage drivers, nothing else.

Debian's initramfs-tools would pull in busybox scripts, udev and a shell init; LLM OS wants a Python /init,
so this assembles the archive itself:
- the Python interpreter and the standard-library modules stage 1 imports (modulefinder, less
  NEVER_IMPORTED);
- modprobe, e2fsck and busybox (for the emergency shell), with the shared libraries they need (ELF DT_NEEDED);
- the kernel's storage, bus and USB modules with their dependencies, indexed by depmod;
- a newc cpio, compressed with zstd.
It uses only the standard library and host tools (readelf, depmod, zstd) because mkosi runs it mid-build.
"""

from __future__ import annotations

import argparse
import io
import modulefinder
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

PYTHON = "usr/bin/python3.11"
BINARIES = ["usr/sbin/modprobe", "usr/sbin/e2fsck", "usr/bin/busybox"]
LIBRARY_DIRS = ["usr/lib/x86_64-linux-gnu", "usr/lib64", "usr/lib"]
# Drivers that can stand between the firmware and the root disk, QEMU's and real machines'.
MODULE_DIRS = [
    "kernel/drivers/virtio", "kernel/drivers/block", "kernel/drivers/scsi", "kernel/drivers/ata",
    "kernel/drivers/nvme", "kernel/drivers/mmc", "kernel/drivers/usb/host", "kernel/drivers/usb/storage",
    "kernel/drivers/usb/core", "kernel/drivers/usb/common", "kernel/lib", "kernel/crypto",
    "kernel/fs/squashfs", "kernel/fs/ext4", "kernel/fs/jbd2", "kernel/fs/mbcache", "kernel/fs/efivarfs",
]
MODULE_SKIP = re.compile(r"/(drbd|aoe|rbd|nbd|xen|zram|rnbd|mtip32xx|null_blk|brd|fcoe|qla|lpfc|bfa|be2iscsi|"
                         r"bnx2|cxgbi|csiostor|megaraid|mpt3sas|mpi3mr|smartpqi|aacraid|hpsa|pm8001|"
                         r"isci|snic|fnic|qedi|qedf|esas2r|arcmsr|mvumi)")
SYMLINKS = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}
# modulefinder follows every import in every module it reaches, also those inside functions stage 1
# never calls: subprocess's and uuid's would bring asyncio, email, http, ssl (and libcrypto), unittest,
# pydoc and the compressors. Stage 1 imports none of these at run time; leaving them out takes the
# initramfs from 36 to about 14 MiB before compression. The VM tests boot every image built this way.
NEVER_IMPORTED = [
    "asyncio", "concurrent", "multiprocessing", "email", "http", "urllib", "xml", "xmlrpc", "ssl", "_ssl",
    "hashlib", "_hashlib", "hmac", "secrets", "socket", "socketserver", "unittest", "doctest", "pdb", "bdb",
    "pydoc", "pydoc_data", "logging", "tarfile", "zipfile", "gzip", "bz2", "_bz2", "lzma", "_lzma",
    "_compression", "decimal", "_decimal", "_pydecimal", "fractions", "statistics", "csv", "difflib",
    "tracemalloc", "webbrowser", "argparse", "getopt", "gettext", "calendar", "mimetypes", "plistlib",
    "quopri", "base64", "code", "codeop", "cmd", "pprint", "queue", "_queue", "mmap", "readline", "tty",
    "termios", "py_compile", "tempfile", "shutil", "random", "_strptime", "datetime", "zipimport",
    "_aix_support", "_osx_support", "_threading_local", "curses", "tkinter", "lib2to3", "idlelib",
]


class Archive:
    """A newc cpio written in memory; deterministic (zero mtimes, sorted order) so builds are reproducible."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[int, bytes]] = {}
        self.devices: dict[str, tuple[int, int]] = {}

    def add_dir(self, path: str) -> None:
        parts = Path(path).parts
        for index in range(1, len(parts) + 1):
            self.entries.setdefault("/".join(parts[:index]), (stat.S_IFDIR | 0o755, b""))

    def add_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        if "/" in path:
            self.add_dir(str(Path(path).parent))
        self.entries[path] = (stat.S_IFREG | mode, data)

    def add_symlink(self, path: str, target: str) -> None:
        self.entries[path] = (stat.S_IFLNK | 0o777, target.encode())

    def add_char_device(self, path: str, major: int, minor: int) -> None:
        """The kernel opens /dev/console for init's stdio before any devtmpfs exists."""
        self.devices[path] = (major, minor)
        self.entries[path] = (stat.S_IFCHR | 0o600, b"")

    def write(self) -> bytes:
        out = io.BytesIO()
        for inode, (name, (mode, data)) in enumerate(sorted(self.entries.items()), start=1):
            self._entry(out, name, mode, data, inode, self.devices.get(name, (0, 0)))
        self._entry(out, "TRAILER!!!", 0, b"", 0, (0, 0))
        return out.getvalue()

    @staticmethod
    def _entry(out: io.BytesIO, name: str, mode: int, data: bytes, inode: int,
               device: tuple[int, int]) -> None:
        encoded = name.encode() + b"\0"
        fields = [inode, mode, 0, 0, 1, 0, len(data), 0, 0, *device, len(encoded), 0]
        out.write(b"070701" + "".join(f"{value:08x}" for value in fields).encode() + encoded)
        out.write(b"\0" * (-(110 + len(encoded)) % 4))
        out.write(data)
        out.write(b"\0" * (-len(data) % 4))


def needed_libraries(elf: Path) -> list[str]:
    result = subprocess.run(["readelf", "-d", str(elf)], capture_output=True, text=True, check=True)
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", result.stdout)


def interpreter(elf: Path) -> str | None:
    result = subprocess.run(["readelf", "-l", str(elf)], capture_output=True, text=True, check=True)
    found = re.search(r"Requesting program interpreter: ([^\]]+)\]", result.stdout)
    return found.group(1).lstrip("/") if found else None


def add_elf(archive: Archive, root: Path, relative: str, done: set[str]) -> None:
    """Add an executable or library and, recursively, what it links against."""
    if relative in done:
        return
    done.add(relative)
    real = (root / relative).resolve()
    if not str(real).startswith(str(root.resolve())):  # an absolute symlink inside the tree
        real = root / os.path.realpath("/" + relative).lstrip("/")
    archive.add_file(relative, real.read_bytes(), 0o755)
    loader = interpreter(real)
    if loader:
        resolved = _resolve_in_tree(root, loader)
        add_elf(archive, root, resolved, done)
        top, _, rest = loader.partition("/")  # the kernel opens the exact path, e.g. /lib64/ld-linux...
        requested = f"{SYMLINKS.get(top, top)}/{rest}"
        if requested != resolved:
            archive.add_dir(str(Path(requested).parent))
            archive.add_symlink(requested, "/" + resolved)
    for name in needed_libraries(real):
        for directory in LIBRARY_DIRS:
            if (root / directory / name).exists():
                add_elf(archive, root, f"{directory}/{name}", done)
                break
        else:
            raise FileNotFoundError(f"{relative} needs {name}, which is not in {root}")


def _resolve_in_tree(root: Path, path: str) -> str:
    """Follow symlinks relative to the tree, not the host (/lib64 -> usr/lib64 -> ../lib/...)."""
    current = path
    for _ in range(20):
        parts = Path(current).parts
        for index in range(1, len(parts) + 1):
            candidate = root.joinpath(*parts[:index])
            if candidate.is_symlink():
                target = os.readlink(candidate)
                base = "" if target.startswith("/") else str(Path(*parts[:index - 1])) if index > 1 else ""
                current = os.path.normpath(os.path.join(base, target.lstrip("/"), *parts[index:]))
                break
        else:
            return current
    raise RuntimeError(f"symlink loop resolving {path}")


def _module_file(module: modulefinder.Module) -> str | None:
    """The module's __file__: modulefinder sets it, typeshed's stub of Module leaves it out."""
    file: str | None = vars(module).get("__file__")
    return file


def add_python(archive: Archive, root: Path, stage1: Path, done: set[str]) -> None:
    stdlib = root / "usr/lib/python3.11"
    finder = modulefinder.ModuleFinder(path=[str(stdlib), str(stdlib / "lib-dynload")],
                                       excludes=NEVER_IMPORTED)
    finder.run_script(str(stage1))
    files = {file for module in finder.modules.values() if (file := _module_file(module))}
    # The interpreter imports these itself at start-up, before any script line runs.
    for startup in ["encodings", "codecs.py", "io.py", "abc.py", "os.py", "stat.py", "posixpath.py",
                    "genericpath.py", "_collections_abc.py", "_sitebuiltins.py", "site.py"]:
        target = stdlib / startup
        if target.is_dir():
            files.update(str(p) for p in target.rglob("*.py"))
        else:
            files.add(str(target))
    for name in sorted(files):
        path = Path(name)
        if not str(path).startswith(str(stdlib)) or not path.exists():
            continue
        relative = str(path.relative_to(root))
        if path.suffix == ".so":
            add_elf(archive, root, relative, done)
        else:
            archive.add_file(relative, path.read_bytes())
    add_elf(archive, root, PYTHON, done)
    archive.add_symlink("usr/bin/python3", "python3.11")


def add_modules(archive: Archive, root: Path, kver: str, staging: Path) -> int:
    """Copy the storage modules and their dependencies, then let depmod index them."""
    base = root / "usr/lib/modules" / kver
    dependencies: dict[str, list[str]] = {}
    for line in (base / "modules.dep").read_text().splitlines():
        module, _, deps = line.partition(":")
        dependencies[module] = deps.split()
    wanted = {m for m in dependencies
              if any(m.startswith(d + "/") for d in MODULE_DIRS) and not MODULE_SKIP.search(m)}
    pending = list(wanted)
    while pending:
        for dependency in dependencies.get(pending.pop(), []):
            if dependency not in wanted:
                wanted.add(dependency)
                pending.append(dependency)
    target = staging / "lib/modules" / kver  # depmod -b looks under <base>/lib/modules
    for module in wanted:
        (target / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(base / module, target / module)
    for index in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        if (base / index).exists():
            shutil.copyfile(base / index, target / index)
    subprocess.run(["depmod", "-b", str(staging), kver], check=True)
    for path in sorted(target.rglob("*")):
        if path.is_file():
            archive.add_file("usr/" + str(path.relative_to(staging)), path.read_bytes())
    return len(wanted)


def build(root: Path, kver: str, stage1: Path, output: Path) -> None:
    archive = Archive()
    done: set[str] = set()
    for name in ("dev", "proc", "sys", "run", "tmp", "sysroot", "etc"):
        archive.add_dir(name)
    for link, target in SYMLINKS.items():
        archive.add_symlink(link, target)
    archive.add_char_device("dev/console", 5, 1)
    source = stage1.read_bytes()
    if source.startswith(b"#!"):
        source = source.split(b"\n", 1)[1]
    archive.add_file("init", b"#!/usr/bin/python3.11 -S\n" + source, 0o755)
    archive.add_file("etc/os-release", b'NAME="LLM OS initramfs"\nID=llmos\n')
    add_python(archive, root, stage1, done)
    for binary in BINARIES:
        add_elf(archive, root, binary, done)
    archive.add_symlink("usr/bin/sh", "busybox")
    with tempfile.TemporaryDirectory() as staging:
        count = add_modules(archive, root, kver, Path(staging))
    raw = archive.write()
    # -19: the ESP holds two of these (one per slot), and the kernel's zstd reads its 8 MiB window.
    compressed = subprocess.run(["zstd", "-q", "-T0", "-19", "-c"], input=raw, capture_output=True,
                                check=True).stdout
    temporary = output.with_suffix(".tmp")
    temporary.write_bytes(compressed)
    temporary.rename(output)
    print(f"initramfs: {len(archive.entries)} entries, {count} modules, {len(raw) >> 20} MiB "
          f"-> {len(compressed) >> 20} MiB zstd: {output}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="the finished root tree")
    parser.add_argument("--kver", help="kernel version (default: the only one in the tree)")
    parser.add_argument("--stage1", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    kver = args.kver or next(p.name for p in (args.root / "usr/lib/modules").iterdir())
    build(args.root, kver, args.stage1, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
