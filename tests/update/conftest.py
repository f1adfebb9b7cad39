"""Real keys, real parts, real tar bundles in a temporary directory."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from llmos.update import bundle, keys


@dataclass(frozen=True)
class Parts:
    rootfs: Path
    kernel: Path
    initrd: Path


@dataclass(frozen=True)
class Vendor:
    private: Ed25519PrivateKey
    public: Ed25519PublicKey
    private_path: Path
    public_path: Path


@pytest.fixture
def vendor(tmp_path: Path) -> Vendor:
    pair = keys.generate(tmp_path / "keys")
    return Vendor(keys.load_private(pair.private_path), keys.load_public(pair.public_path),
                  pair.private_path, pair.public_path)


@pytest.fixture
def parts(tmp_path: Path) -> Parts:
    directory = tmp_path / "parts"
    directory.mkdir()
    rootfs, kernel, initrd = directory / "rootfs.img", directory / "vmlinuz", directory / "initrd"
    rootfs.write_bytes(os.urandom(300_000))  # not a multiple of the tar block: padding is exercised
    kernel.write_bytes(b"MZ kernel " + os.urandom(5000))
    initrd.write_bytes(b"070701 initrd " + os.urandom(7000))
    return Parts(rootfs, kernel, initrd)


@pytest.fixture
def make(tmp_path: Path, vendor: Vendor, parts: Parts) -> Callable[..., Path]:
    """make(version="2", arch="x86_64", key=None) -> path of a fresh bundle."""
    counter = iter(range(1000))

    def _make(version: str = "2", arch: str = "x86_64", key: Ed25519PrivateKey | None = None) -> Path:
        out = tmp_path / f"bundle-{next(counter)}-{version}-{arch}.tar"
        bundle.make_bundle(out, key or vendor.private, os_version=version, arch=arch, rootfs=parts.rootfs,
                           kernel=parts.kernel, initrd=parts.initrd)
        return out

    return _make
