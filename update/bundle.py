"""The update bundle: one uncompressed tar, readable front to back.

    manifest.json   canonical JSON: format, os_version, arch, created, key_id, parts[name, file, size, sha256]
    manifest.sig    64 bytes: Ed25519 over SIGNING_CONTEXT + the manifest.json bytes
    rootfs.img      the root file system image for a slot
    vmlinuz         the kernel
    initrd          the initramfs
    store/SHA256    each model file the root links to in the model store (update/store.py), by content

The manifest comes first so a reader knows what to expect before the large parts; every part is named,
sized and hashed in it, so the signature covers the whole bundle. `open_bundle` runs every check and
reads every byte before it returns, and nothing is written anywhere until it has returned.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from llmos.update import atomic, keys, store, version

FORMAT = 2  # 2: the model store's objects are parts; a format-1 root carried its models
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
# Domain separation: a signature made with this key for anything else can never pass as a bundle's.
SIGNING_CONTEXT = b"llmos-update-bundle-v1\n"
PART_FILES = {"rootfs": "rootfs.img", "kernel": "vmlinuz", "initrd": "initrd"}
OBJECT_PREFIX = "store/"  # an object part's name and member: store/SHA256, its bytes' sha256
MAX_OBJECTS = 64
MAX_MANIFEST = 64 << 10
CHUNK = 4 << 20
ARCH_RE = re.compile(r"[a-z0-9_]{1,32}")
CREATED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

#: progress(stage, done_bytes, total_bytes)
Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    pass


class BundleRefused(Exception):
    """A check failed; `check` is a stable short name (signature, wrong-key, truncated, arch, version,
    size, hash, missing-part, manifest, format) and the message says what was found."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"refused ({check}): {message}")
        self.check = check


@dataclass(frozen=True)
class Part:
    name: str  # rootfs, kernel, initrd, or store/SHA256 for a model store object
    file: str  # member name in the tar
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    format: int
    os_version: str
    arch: str
    created: str  # UTC, CREATED_FORMAT
    key_id: str  # fingerprint of the signing key; a hint for the error message, trusted for nothing
    parts: tuple[Part, ...]

    def to_bytes(self) -> bytes:
        """Canonical: sorted keys, no spaces, ASCII. The signature covers exactly these bytes."""
        document = {"format": self.format, "os_version": self.os_version, "arch": self.arch,
                    "created": self.created, "key_id": self.key_id,
                    "parts": [{"name": p.name, "file": p.file, "size": p.size, "sha256": p.sha256}
                              for p in self.parts]}
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    def part(self, name: str) -> Part:
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(name)

    @property
    def objects(self) -> tuple[Part, ...]:
        """The model store objects the root links to."""
        return tuple(p for p in self.parts if p.name.startswith(OBJECT_PREFIX))

    @property
    def total_size(self) -> int:
        return sum(p.size for p in self.parts)

    @classmethod
    def parse(cls, data: bytes) -> Manifest:
        """Parse and validate, naming the field that is wrong (`parts[1].sha256: ...`)."""
        try:
            document = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise BundleRefused("manifest", f"garbled manifest: not UTF-8 at byte {error.start}") from None
        except json.JSONDecodeError as error:
            raise BundleRefused("manifest", f"garbled manifest: not JSON (line {error.lineno}, column "
                                            f"{error.colno}: {error.msg})") from None
        if not isinstance(document, dict):
            raise BundleRefused("manifest", "garbled manifest: top level is not an object")
        fmt = _field(document, "format", int, "format")
        if fmt != FORMAT:
            raise BundleRefused("manifest", f"format: bundle format {fmt}, this system reads format {FORMAT}")
        os_version = _field(document, "os_version", str, "os_version")
        if not version.valid(os_version):
            raise BundleRefused("manifest", f"garbled manifest: os_version: {os_version!r} is not a version "
                                            f"({version.RULE})")
        arch = _field(document, "arch", str, "arch")
        if not ARCH_RE.fullmatch(arch):
            raise BundleRefused("manifest", f"garbled manifest: arch: {arch!r} is not an architecture name")
        created = _field(document, "created", str, "created")
        try:
            datetime.strptime(created, CREATED_FORMAT)
        except ValueError:
            raise BundleRefused("manifest", f"garbled manifest: created: {created!r} is not "
                                            "YYYY-MM-DDTHH:MM:SSZ") from None
        key_id = _field(document, "key_id", str, "key_id")
        raw_parts = _field(document, "parts", list, "parts")
        if len(raw_parts) > len(PART_FILES) + MAX_OBJECTS:
            raise BundleRefused("manifest", f"garbled manifest: parts: {len(raw_parts)}, at most "
                                            f"{len(PART_FILES) + MAX_OBJECTS}")
        parts = tuple(_parse_part(raw, f"parts[{i}]") for i, raw in enumerate(raw_parts))
        names = [p.name for p in parts]
        for name in PART_FILES:
            if name not in names:
                raise BundleRefused("missing-part", f"the manifest lists no {name} part")
        if len(set(names)) != len(names):
            raise BundleRefused("manifest", f"garbled manifest: parts: a part is listed twice ({names})")
        return cls(fmt, os_version, arch, created, key_id, parts)


def _field(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in obj:
        raise BundleRefused("manifest", f"garbled manifest: {where}: missing")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BundleRefused("manifest", f"garbled manifest: {where}: expected {kind.__name__}, "
                                        f"got {type(value).__name__} {value!r:.40}")
    return value


def _parse_part(raw: object, where: str) -> Part:
    if not isinstance(raw, dict):
        raise BundleRefused("manifest", f"garbled manifest: {where}: expected an object")
    name = _field(raw, "name", str, f"{where}.name")
    is_object = name.startswith(OBJECT_PREFIX)
    if not is_object and name not in PART_FILES:
        raise BundleRefused("manifest", f"garbled manifest: {where}.name: unknown part {name!r:.80} "
                                        f"(expected one of {', '.join(PART_FILES)}, "
                                        f"or {OBJECT_PREFIX}SHA256)")
    file = _field(raw, "file", str, f"{where}.file")
    expected = name if is_object else PART_FILES[name]
    if file != expected:
        raise BundleRefused("manifest", f"garbled manifest: {where}.file: {file!r:.80}, the {name} part is "
                                        f"always {expected!r}")
    size = _field(raw, "size", int, f"{where}.size")
    if size < 0:
        raise BundleRefused("manifest", f"garbled manifest: {where}.size: negative ({size})")
    sha256 = _field(raw, "sha256", str, f"{where}.sha256")
    if not store.SHA256_RE.fullmatch(sha256):
        raise BundleRefused("manifest", f"garbled manifest: {where}.sha256: expected 64 lowercase hex "
                                        f"digits, got {sha256!r:.80}")
    if is_object and name != OBJECT_PREFIX + sha256:
        raise BundleRefused("manifest", f"garbled manifest: {where}.name: {name!r:.80}, a store object is "
                                        f"named by its sha256 ({OBJECT_PREFIX}{sha256})")
    return Part(name, file, size, sha256)


# --- making a bundle (build host) --------------------------------------------------------------------

def _hash_file(path: Path, progress: Progress, stage: str) -> tuple[int, str]:
    digest, done = hashlib.sha256(), 0
    total = path.stat().st_size
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            progress(stage, done, total)
    return done, digest.hexdigest()


def _regular(path: Path, what: str) -> Path:
    if not path.is_file():
        raise ValueError(f"{what}: {path} is not a file")
    return path


class _HashingReader:
    """Hands tarfile the part's bytes while hashing them, to catch a file changing under us."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("rb")
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self.digest.update(data)
        return data


def make_bundle(out: Path, private_key: Ed25519PrivateKey, *, os_version: str, arch: str, rootfs: Path,
                kernel: Path, initrd: Path, objects: Sequence[Path] = (), created: datetime | None = None,
                progress: Progress = _no_progress) -> Manifest:
    """Hash the parts, sign the manifest and write the tar atomically (a cut-off run leaves no bundle)."""
    if not version.valid(os_version):
        raise ValueError(f"version {os_version!r}: use {version.RULE}")
    if not ARCH_RE.fullmatch(arch):
        raise ValueError(f"architecture {arch!r}: expected a name like x86_64 or aarch64")
    if len(objects) > MAX_OBJECTS:
        raise ValueError(f"{len(objects)} model store objects, a bundle carries at most {MAX_OBJECTS}")
    sources = {"rootfs": rootfs, "kernel": kernel, "initrd": initrd}
    parts = []
    for name, path in sources.items():
        size, sha256 = _hash_file(_regular(path, name), progress, f"hash {name}")
        parts.append(Part(name, PART_FILES[name], size, sha256))
    for path in objects:
        size, sha256 = _hash_file(_regular(path, "model"), progress, f"hash {path.name}")
        name = OBJECT_PREFIX + sha256
        if name not in sources:  # the same bytes under two names are one object
            sources[name] = path
            parts.append(Part(name, name, size, sha256))
    when = (created or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    manifest = Manifest(FORMAT, os_version, arch, when.strftime(CREATED_FORMAT),
                        keys.key_id(private_key.public_key()), tuple(parts))
    manifest_bytes = manifest.to_bytes()
    signature = private_key.sign(SIGNING_CONTEXT + manifest_bytes)
    mtime = int(when.timestamp())

    def member(name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode, info.uid, info.gid = size, mtime, 0o644, 0, 0
        return info

    temp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with temp.open("wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, data in ((MANIFEST_NAME, manifest_bytes), (SIGNATURE_NAME, signature)):
                tar.addfile(member(name, len(data)), _BytesReader(data))
            for part in parts:
                reader = _HashingReader(sources[part.name])
                try:
                    tar.addfile(member(part.file, part.size), reader)
                finally:
                    reader.file.close()
                if reader.digest.hexdigest() != part.sha256:
                    raise ValueError(f"{part.name}: {sources[part.name]} changed while the bundle was made")
                progress(f"write {part.name}", part.size, part.size)
            tar.close()
            raw.flush()
            os.fsync(raw.fileno())
        atomic.rename(temp, out)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return manifest


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.at + size
        chunk, self.at = self.data[self.at:end], min(end, len(self.data))
        return chunk


# --- opening a bundle (the machine being updated) ----------------------------------------------------

@dataclass(frozen=True)
class Bundle:
    """A bundle that passed every check. Parts are read again from the file when written; `chunks`
    re-hashes them, so a file changed after verification fails the write instead of slipping through."""

    path: Path
    manifest: Manifest
    offsets: tuple[tuple[str, int], ...]  # part name -> byte offset of its data in the tar
    size: int

    def offset(self, name: str) -> int:
        return dict(self.offsets)[name]

    def chunks(self, name: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        part, start = self.manifest.part(name), self.offset(name)
        digest, done = hashlib.sha256(), 0
        with self.path.open("rb", buffering=0) as source:
            while done < part.size:
                data = os.pread(source.fileno(), min(chunk_size, part.size - done), start + done)
                if not data:
                    raise BundleRefused("truncated", f"{self.path}: {part.file} ended after {done} of "
                                                     f"{part.size} bytes (the file changed after it was "
                                                     "verified)")
                digest.update(data)
                done += len(data)
                yield data
        if digest.hexdigest() != part.sha256:
            raise BundleRefused("hash", f"{self.path}: {part.file} changed after it was verified")


def _read_member(tar: tarfile.TarFile, info: tarfile.TarInfo, path: Path, file_size: int) -> bytes:
    if info.offset_data + info.size > file_size:
        raise BundleRefused("truncated", f"{path}: {info.name} needs {info.size} bytes, the file ends "
                                         f"after {max(0, file_size - info.offset_data)}")
    reader = tar.extractfile(info)
    if reader is None:
        raise BundleRefused("format", f"{path}: {info.name} is not a regular file")
    return reader.read()


def _peek_key_id(manifest_bytes: bytes) -> str | None:
    """The key id the (unverified) manifest claims; only used to word the refusal."""
    try:
        document = json.loads(manifest_bytes)
    except ValueError:
        return None
    claimed = document.get("key_id") if isinstance(document, dict) else None
    return claimed if isinstance(claimed, str) else None


def _ends_with_tar_trailer(path: Path, after: int, file_size: int) -> bool:
    """An intact tar ends in two zero blocks; a file cut off at a member boundary does not."""
    if file_size - after < 1024:
        return False
    with path.open("rb") as f:
        f.seek(after)
        return f.read(1024) == b"\0" * 1024


def open_bundle(path: Path, public_key: Ed25519PublicKey, arch: str, max_bytes: int, *,
                running_version: str | None = None, force: bool = False,
                progress: Progress = _no_progress) -> Bundle:
    """Check, in this order: the signature (and whose key made it), the architecture, the version (must
    be newer than running_version unless force), the size limit, then every part's size and sha256.
    Raises BundleRefused naming the failed check; reads the bundle, writes nothing."""
    try:
        file_size = path.stat().st_size
    except OSError as error:
        raise BundleRefused("format", f"{path}: cannot read: {error.strerror}") from error
    if file_size < 512:
        raise BundleRefused("truncated", f"{path}: {file_size} bytes, too short to hold even a manifest")
    try:
        with path.open("rb") as raw, tarfile.open(fileobj=raw, mode="r:") as tar:
            members = _walk(tar, path, file_size)
            manifest_info, signature_info = members[0], members[1]
            manifest_bytes = _read_member(tar, manifest_info, path, file_size)
            signature = _read_member(tar, signature_info, path, file_size)
    except tarfile.TarError as error:
        raise BundleRefused("format", f"{path}: not a bundle (not a tar archive: {error})") from None

    manifest = _check_manifest(manifest_bytes, signature, public_key, arch, max_bytes, file_size,
                               running_version=running_version, force=force)

    by_file = {info.name: info for info in members[2:]}
    expected = {p.file for p in manifest.parts}
    for info in members[2:]:
        if info.name not in expected:
            raise BundleRefused("format", f"{path}: unexpected member {info.name!r}")
    last = members[-1]
    end = last.offset_data + tarfile.BLOCKSIZE * -(-last.size // tarfile.BLOCKSIZE)
    complete = _ends_with_tar_trailer(path, end, file_size)
    offsets = []
    for part in manifest.parts:
        found = by_file.get(part.file)
        if found is None:
            if not complete:
                raise BundleRefused("truncated", f"{path}: ends before the {part.name} part ({part.file})")
            raise BundleRefused("missing-part", f"{path}: the manifest lists {part.file}, the bundle "
                                                "does not contain it")
        if found.size != part.size:
            raise BundleRefused("hash", f"{part.file}: {found.size} bytes, the manifest says {part.size}")
        if found.offset_data + found.size > file_size:
            present = max(0, file_size - found.offset_data)
            raise BundleRefused("truncated", f"{path}: {part.file} has {present} of its {part.size} bytes")
        offsets.append((part.name, found.offset_data))
    if not complete:
        raise BundleRefused("truncated", f"{path}: the archive's end marker is missing after {last.name}")
    bundle = Bundle(path, manifest, tuple(offsets), file_size)
    _check_hashes(bundle, progress)
    return bundle


def _check_manifest(manifest_bytes: bytes, signature: bytes, public_key: Ed25519PublicKey, arch: str,
                    max_bytes: int, size: int, *, running_version: str | None, force: bool) -> Manifest:
    """The checks the manifest alone decides: signature and key, architecture, version, size."""
    _check_signature(public_key, manifest_bytes, signature)
    manifest = Manifest.parse(manifest_bytes)
    if manifest.arch != arch:
        raise BundleRefused("arch", f"the bundle is for {manifest.arch}, this machine is {arch}")
    new, running = manifest.os_version, running_version
    if running is not None and not force and not version.newer(new, running):
        relation = "the same as" if version.compare(new, running) == 0 else "older than"
        raise BundleRefused("version", f"the bundle's version {new} is {relation} the running {running}; "
                                       "only a newer version is installed (--force to install it anyway)")
    if size > max_bytes or manifest.total_size > max_bytes:
        raise BundleRefused("size", f"the bundle is {max(size, manifest.total_size)} bytes, over the "
                                    f"limit of {max_bytes} bytes")
    return manifest


def check_head(head: bytes, public_key: Ed25519PublicKey, arch: str, max_bytes: int, *,
               running_version: str | None = None, force: bool = False) -> Manifest | None:
    """What a bundle's first kilobytes decide (its manifest and signature come first): a download is
    refused before the gigabyte behind them. None while the two are not all there yet; the full
    open_bundle check follows anyway."""
    try:
        with tarfile.open(fileobj=io.BytesIO(head), mode="r:") as tar:
            manifest_info, signature_info = tar.next(), tar.next()
            if manifest_info is None or signature_info is None:
                return None
            if (manifest_info.name, signature_info.name) != (MANIFEST_NAME, SIGNATURE_NAME):
                raise BundleRefused("format", f"a bundle starts with {MANIFEST_NAME} and {SIGNATURE_NAME}, "
                                              f"not {manifest_info.name!r} and {signature_info.name!r}")
            if signature_info.offset_data + signature_info.size > len(head) \
                    or manifest_info.size > MAX_MANIFEST:
                return None
            manifest_bytes = tar.extractfile(manifest_info).read()  # type: ignore[union-attr]
            signature = tar.extractfile(signature_info).read()  # type: ignore[union-attr]
    except (tarfile.TarError, EOFError, AttributeError):
        return None  # too short to tell, or not a tar: open_bundle says which, with the whole file
    return _check_manifest(manifest_bytes, signature, public_key, arch, max_bytes, 0,
                           running_version=running_version, force=force)


def _walk(tar: tarfile.TarFile, path: Path, file_size: int) -> list[tarfile.TarInfo]:
    members: list[tarfile.TarInfo] = []
    while True:
        try:
            info = tar.next()
        except tarfile.ReadError:  # "unexpected end of data": cut off; the size checks say where
            if not members:
                raise
            break
        if info is None:
            break
        if not info.isreg():
            raise BundleRefused("format", f"{path}: member {info.name!r} is not a regular file")
        members.append(info)
        if len(members) > 2 + len(PART_FILES) + MAX_OBJECTS:
            raise BundleRefused("format", f"{path}: more members than a bundle has")
    names = [m.name for m in members[:2]]
    if len(members) < 2:
        # Nothing or only a manifest: either cut off, or not ours.
        if members and members[0].name == MANIFEST_NAME:
            raise BundleRefused("truncated", f"{path}: ends after the manifest, before its signature")
        raise BundleRefused("format", f"{path}: not a bundle (no {MANIFEST_NAME} + {SIGNATURE_NAME})")
    if names != [MANIFEST_NAME, SIGNATURE_NAME]:
        raise BundleRefused("format", f"{path}: not a bundle: starts with {names}, expected "
                                      f"{[MANIFEST_NAME, SIGNATURE_NAME]}")
    if members[0].size > MAX_MANIFEST:
        raise BundleRefused("manifest", f"garbled manifest: {members[0].size} bytes, over {MAX_MANIFEST}")
    if members[1].size != 64:
        raise BundleRefused("signature", f"{SIGNATURE_NAME} is {members[1].size} bytes, an Ed25519 "
                                         "signature is 64")
    return members


def _check_signature(public_key: Ed25519PublicKey, manifest_bytes: bytes, signature: bytes) -> None:
    try:
        public_key.verify(signature, SIGNING_CONTEXT + manifest_bytes)
    except InvalidSignature:
        ours, claimed = keys.key_id(public_key), _peek_key_id(manifest_bytes)
        if claimed is not None and claimed != ours:
            raise BundleRefused("wrong-key", f"signed by key {claimed}, this machine trusts only key "
                                             f"{ours}") from None
        raise BundleRefused("signature", "bad signature: the manifest or its signature was altered "
                                         f"(key {ours})") from None


def _check_hashes(bundle: Bundle, progress: Progress) -> None:
    total, done = bundle.manifest.total_size, 0
    with bundle.path.open("rb", buffering=0) as source:
        for part in bundle.manifest.parts:
            digest, read, start = hashlib.sha256(), 0, bundle.offset(part.name)
            while read < part.size:
                data = os.pread(source.fileno(), min(CHUNK, part.size - read), start + read)
                if not data:
                    raise BundleRefused("truncated", f"{part.file} ended after {read} of {part.size} bytes")
                digest.update(data)
                read += len(data)
                done += len(data)
                progress("verify", done, total)
            if digest.hexdigest() != part.sha256:
                raise BundleRefused("hash", f"{part.name} ({part.file}): sha256 {digest.hexdigest()}, the "
                                            f"manifest says {part.sha256}")
