"""The bundle format and every refusal of open_bundle, on real tar files signed with real Ed25519."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from llmos.update import keys
from llmos.update.bundle import (
    FORMAT,
    MANIFEST_NAME,
    OBJECT_PREFIX,
    SIGNATURE_NAME,
    SIGNING_CONTEXT,
    BundleRefused,
    Manifest,
    make_bundle,
    open_bundle,
)

from .conftest import Parts, Vendor

MB = 1 << 20
Make = Callable[..., Path]


def member(path: Path, name: str) -> tuple[int, int]:
    """(offset of the data, size) of a member."""
    with tarfile.open(path) as tar:
        info = tar.getmember(name)
        return info.offset_data, info.size


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def refused(check: str, path: Path, vendor: Vendor, **kwargs: object) -> BundleRefused:
    args: dict[str, object] = {"arch": "x86_64", "max_bytes": 10 * MB}
    args.update(kwargs)
    with pytest.raises(BundleRefused) as raised:
        open_bundle(path, vendor.public, **args)  # type: ignore[arg-type]
    assert raised.value.check == check, str(raised.value)
    assert str(raised.value).startswith(f"refused ({check}): ")
    return raised.value


def signed_tar(out: Path, manifest_bytes: bytes, key: Ed25519PrivateKey,
               members: list[tuple[str, bytes]]) -> Path:
    """A bundle whose manifest is whatever we say, correctly signed: for manifests that are garbled
    but authentic, which only the field checks can catch."""
    with tarfile.open(out, "w") as tar:
        signature = key.sign(SIGNING_CONTEXT + manifest_bytes)
        entries = [(MANIFEST_NAME, manifest_bytes), (SIGNATURE_NAME, signature), *members]
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def test_good_bundle_opens_and_reads_back(make: Make, vendor: Vendor, parts: Parts) -> None:
    path = make("2")
    bundle = open_bundle(path, vendor.public, "x86_64", 10 * MB, running_version="1")
    manifest = bundle.manifest
    assert (manifest.os_version, manifest.arch, manifest.format) == ("2", "x86_64", FORMAT)
    assert manifest.key_id == keys.key_id(vendor.public)
    assert [p.name for p in manifest.parts] == ["rootfs", "kernel", "initrd"]
    for name, source in (("rootfs", parts.rootfs), ("kernel", parts.kernel), ("initrd", parts.initrd)):
        assert b"".join(bundle.chunks(name, chunk_size=4096)) == source.read_bytes()
        assert manifest.part(name).size == source.stat().st_size


def test_layout_is_streamable_manifest_first(make: Make) -> None:
    with tarfile.open(make()) as tar:
        assert tar.getnames() == ["manifest.json", "manifest.sig", "rootfs.img", "vmlinuz", "initrd"]


def test_manifest_bytes_are_canonical(make: Make) -> None:
    with tarfile.open(make()) as tar:
        reader = tar.extractfile("manifest.json")
        assert reader is not None
        stored = reader.read()
    assert Manifest.parse(stored).to_bytes() == stored
    assert stored == json.dumps(json.loads(stored), sort_keys=True, separators=(",", ":")).encode()


def test_bad_signature(make: Make, vendor: Vendor) -> None:
    path = make()
    offset, _ = member(path, SIGNATURE_NAME)
    flip(path, offset + 10)
    error = refused("signature", path, vendor)
    assert "bad signature" in str(error)


def test_altered_manifest_fails_the_signature(make: Make, vendor: Vendor) -> None:
    path = make("2")
    offset, size = member(path, MANIFEST_NAME)
    data = bytearray(path.read_bytes())
    text = bytes(data[offset:offset + size])
    altered = text.replace(b'"os_version":"2"', b'"os_version":"9"')
    assert altered != text and len(altered) == len(text)
    data[offset:offset + size] = altered
    path.write_bytes(bytes(data))
    refused("signature", path, vendor)


def test_wrong_key_names_both_keys(make: Make, vendor: Vendor) -> None:
    stranger = Ed25519PrivateKey.generate()
    error = refused("wrong-key", make(key=stranger), vendor)
    assert keys.key_id(stranger.public_key()) in str(error)
    assert keys.key_id(vendor.public) in str(error)


@pytest.mark.parametrize("where", ["inside the root image", "after the root image", "inside the signature",
                                   "after the manifest", "inside the last part", "in the tar trailer"])
def test_truncated(make: Make, vendor: Vendor, where: str) -> None:
    path = make()
    data = path.read_bytes()
    rootfs_at, rootfs_size = member(path, "rootfs.img")
    signature_at, _ = member(path, SIGNATURE_NAME)
    manifest_at, manifest_size = member(path, MANIFEST_NAME)
    initrd_at, initrd_size = member(path, "initrd")
    cut = {"inside the root image": rootfs_at + rootfs_size // 2,
           "after the root image": rootfs_at + rootfs_size + 300,
           "inside the signature": signature_at + 20,
           "after the manifest": manifest_at + manifest_size + 100,
           "inside the last part": initrd_at + initrd_size - 1,
           "in the tar trailer": initrd_at + initrd_size + 100}[where]
    path.write_bytes(data[:cut])
    refused("truncated", path, vendor)


def test_other_architecture(make: Make, vendor: Vendor) -> None:
    error = refused("arch", make(arch="aarch64"), vendor)
    assert "aarch64" in str(error) and "x86_64" in str(error)


def test_oversized(make: Make, vendor: Vendor) -> None:
    path = make()
    error = refused("size", path, vendor, max_bytes=path.stat().st_size - 1)
    assert "limit" in str(error)


@pytest.mark.parametrize("running,relation",
                         [("2", "the same as"), ("3", "older than"), ("10", "older than")])
def test_not_newer_is_refused_unless_forced(make: Make, vendor: Vendor, running: str, relation: str) -> None:
    path = make("2")
    error = refused("version", path, vendor, running_version=running)
    assert relation in str(error) and "--force" in str(error)
    assert open_bundle(path, vendor.public, "x86_64", 10 * MB, running_version=running, force=True)


def test_hash_mismatch(make: Make, vendor: Vendor) -> None:
    path = make()
    offset, size = member(path, "rootfs.img")
    flip(path, offset + size - 1)  # the very last byte: every byte is read before accepting
    error = refused("hash", path, vendor)
    assert "rootfs" in str(error)


def test_checks_run_in_order(make: Make, vendor: Vendor) -> None:
    """Signature before architecture before version before size before hashes."""
    path = make("1", arch="aarch64")
    offset, _ = member(path, "rootfs.img")
    flip(path, offset + 5)
    refused("arch", path, vendor, running_version="5", max_bytes=10)
    refused("version", path, vendor, arch="aarch64", running_version="5", max_bytes=10)
    refused("size", path, vendor, arch="aarch64", max_bytes=10)
    refused("hash", path, vendor, arch="aarch64")
    offset, _ = member(path, SIGNATURE_NAME)
    flip(path, offset)
    refused("signature", path, vendor, running_version="5", max_bytes=10)


def _manifest(sources: Parts, **changes: object) -> dict[str, object]:
    listed = []
    for name, file, source in (("rootfs", "rootfs.img", sources.rootfs),
                               ("kernel", "vmlinuz", sources.kernel), ("initrd", "initrd", sources.initrd)):
        data = source.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        listed.append({"name": name, "file": file, "size": len(data), "sha256": digest})
    document: dict[str, object] = {"format": FORMAT, "os_version": "2", "arch": "x86_64",
                                   "created": "2026-12-02T05:00:00Z", "key_id": "x", "parts": listed}
    document.update(changes)
    return document


def _members(parts: Parts) -> list[tuple[str, bytes]]:
    return [("rootfs.img", parts.rootfs.read_bytes()), ("vmlinuz", parts.kernel.read_bytes()),
            ("initrd", parts.initrd.read_bytes())]


def test_missing_part(tmp_path: Path, vendor: Vendor, parts: Parts) -> None:
    document = _manifest(parts)
    path = signed_tar(tmp_path / "b.tar", json.dumps(document).encode(), vendor.private, _members(parts)[:2])
    error = refused("missing-part", path, vendor)
    assert "initrd" in str(error)


@pytest.mark.parametrize("change,located", [
    ({"os_version": 2}, "os_version: expected str"),
    ({"os_version": "2+3"}, "os_version: '2+3' is not a version"),
    ({"arch": None}, "arch: expected str"),
    ({"created": "yesterday"}, "created: 'yesterday' is not"),
    ({"parts": "all of them"}, "parts: expected list"),
    ({"format": 7}, "format 7"),
])
def test_garbled_manifest_names_the_field(tmp_path: Path, vendor: Vendor, parts: Parts,
                                          change: dict[str, object], located: str) -> None:
    document = _manifest(parts, **change)
    path = signed_tar(tmp_path / "b.tar", json.dumps(document).encode(), vendor.private, _members(parts))
    error = refused("manifest", path, vendor)
    assert located in str(error)


def test_garbled_part_entry_is_located(tmp_path: Path, vendor: Vendor, parts: Parts) -> None:
    document = _manifest(parts)
    listed = document["parts"]
    assert isinstance(listed, list)
    listed[1]["sha256"] = "xyz"
    del listed[2]["size"]
    path = signed_tar(tmp_path / "b.tar", json.dumps(document).encode(), vendor.private, _members(parts))
    assert "parts[1].sha256: expected 64 lowercase hex digits" in str(refused("manifest", path, vendor))
    listed[1]["sha256"] = "0" * 64
    path = signed_tar(tmp_path / "c.tar", json.dumps(document).encode(), vendor.private, _members(parts))
    assert "parts[2].size: missing" in str(refused("manifest", path, vendor))


def test_manifest_that_is_not_json(tmp_path: Path, vendor: Vendor, parts: Parts) -> None:
    path = signed_tar(tmp_path / "b.tar", b'{"format": 1,', vendor.private, _members(parts))
    assert "not JSON (line 1" in str(refused("manifest", path, vendor))


def test_not_a_bundle(tmp_path: Path, vendor: Vendor) -> None:
    path = tmp_path / "junk.tar"
    path.write_bytes(b"\x7fELF" + b"\xff" * 4000)
    refused("format", path, vendor)
    empty = tmp_path / "empty.tar"
    empty.write_bytes(b"")
    refused("truncated", empty, vendor)


def test_a_file_changed_after_verification_fails_when_read(make: Make, vendor: Vendor) -> None:
    path = make()
    bundle = open_bundle(path, vendor.public, "x86_64", 10 * MB)
    offset, _ = member(path, "rootfs.img")
    flip(path, offset + 1)
    with pytest.raises(BundleRefused, match="changed after it was verified"):
        b"".join(bundle.chunks("rootfs"))


def test_make_bundle_rejects_bad_input(tmp_path: Path, vendor: Vendor, parts: Parts) -> None:
    from llmos.update.bundle import make_bundle

    with pytest.raises(ValueError, match="version"):
        make_bundle(tmp_path / "b.tar", vendor.private, os_version="2+3", arch="x86_64", rootfs=parts.rootfs,
                    kernel=parts.kernel, initrd=parts.initrd)
    with pytest.raises(ValueError, match="kernel"):
        make_bundle(tmp_path / "b.tar", vendor.private, os_version="2", arch="x86_64", rootfs=parts.rootfs,
                    kernel=tmp_path / "nope", initrd=parts.initrd)
    assert not (tmp_path / "b.tar").exists()


def test_model_store_objects_are_parts_named_by_their_content(tmp_path: Path, vendor: Vendor,
                                                              parts: Parts) -> None:
    weights, vocab = tmp_path / "model.gguf", tmp_path / "vocab.txt"
    weights.write_bytes(b"GGUF" + bytes(5000))
    vocab.write_bytes(b"words")
    out = tmp_path / "v2.llmos"
    make_bundle(out, vendor.private, os_version="2", arch="x86_64", rootfs=parts.rootfs, kernel=parts.kernel,
                initrd=parts.initrd, objects=[weights, vocab, vocab])  # the same file twice: one part
    opened = open_bundle(out, vendor.public, "x86_64", 10 * MB)
    digests = sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in (weights, vocab))
    assert sorted(p.sha256 for p in opened.manifest.objects) == digests
    assert sorted(p.name for p in opened.manifest.objects) == [OBJECT_PREFIX + d for d in digests]
    assert b"".join(opened.chunks(OBJECT_PREFIX + digests[0])) in (weights.read_bytes(), vocab.read_bytes())


def test_an_object_not_named_by_its_sha256_is_refused(tmp_path: Path, vendor: Vendor, parts: Parts) -> None:
    data = b"model"
    other = "0" * 64
    document = _manifest(parts)
    listed = document["parts"]
    assert isinstance(listed, list)
    listed.append({"name": OBJECT_PREFIX + other, "file": OBJECT_PREFIX + other, "size": len(data),
                   "sha256": hashlib.sha256(data).hexdigest()})
    path = signed_tar(tmp_path / "b.tar", json.dumps(document).encode(), vendor.private,
                      [*_members(parts), (OBJECT_PREFIX + other, data)])
    assert "a store object is named by its sha256" in str(refused("manifest", path, vendor))
    listed[-1] = {"name": "../../etc/passwd", "file": "../../etc/passwd", "size": 1, "sha256": other}
    path = signed_tar(tmp_path / "c.tar", json.dumps(document).encode(), vendor.private, _members(parts))
    assert "unknown part '../../etc/passwd'" in str(refused("manifest", path, vendor))
    listed[-1] = {"name": OBJECT_PREFIX + "../x", "file": OBJECT_PREFIX + "../x", "size": 1, "sha256": other}
    path = signed_tar(tmp_path / "d.tar", json.dumps(document).encode(), vendor.private, _members(parts))
    assert "a store object is named by its sha256" in str(refused("manifest", path, vendor))
