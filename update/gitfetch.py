"""One file (an update bundle) out of a git remote, with dulwich as the registry talks to its remotes
(the image has no git). The tip of one ref is fetched shallow, depth 1, as a pack written to a file on
the data partition, and the pack is read object by object, inflating as it goes: a gigabyte bundle is
never held in memory. Objects are named by their SHA-1 as git names them, so the file found is the one
the ref's commit holds at that path. Nothing here is trusted for the update: the bundle's signature is.

Deltas (git may store a small object as the difference to another) are resolved in memory up to
DELTA_LIMIT; git never stores a file over its core.bigFileThreshold (512 MiB) as a delta.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

import urllib3
from dulwich.client import GitClient
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository
from dulwich.object_store import ObjectStoreGraphWalker
from dulwich.objects import ObjectID
from dulwich.pack import apply_delta
from dulwich.refs import Ref

from llmos.gitremote import NETWORK_SCHEMES, network_client
from llmos.update.bundle import BundleRefused, Progress
from llmos.update.download import temp_file

DELTA_LIMIT = 64 << 20
CHUNK = 1 << 20
PROGRESS_EVERY = 64 << 20
PACK_SLACK = 64 << 20  # the commit and its trees besides the bundle; other big files do not fit
_TYPES = {1: b"commit", 2: b"tree", 3: b"blob", 4: b"tag"}
OFS_DELTA, REF_DELTA = 6, 7


class GitSourceError(Exception):
    """The remote cannot be reached, lacks the ref or the path, or sent a pack that cannot be read."""


@dataclass(frozen=True)
class Tip:
    ref: str  # the full ref name that matched, e.g. refs/heads/main
    object_id: str  # hex SHA-1 the ref points at: a commit, or an annotated tag


@dataclass(frozen=True)
class Fetched:
    tip: Tip
    file: Path | None  # None: skipped, nothing was fetched


def candidates(ref: str) -> tuple[bytes, ...]:
    """The ref names a setting may mean, in git's order: a full ref as it is, else a branch, then a tag."""
    if ref.startswith("refs/") or ref == "HEAD":
        return (ref.encode(),)
    return (f"refs/heads/{ref}".encode(), f"refs/tags/{ref}".encode())


def _tip(refs: Mapping[Ref, ObjectID], ref: str, url: str) -> Tip:
    for name in candidates(ref):
        if Ref(name) in refs:
            return Tip(name.decode(), refs[Ref(name)].decode())
    shown = ", ".join(sorted(r.decode(errors="replace") for r in refs)[:8]) or "none"
    raise GitSourceError(f"{url}: no ref {ref!r} (the remote has: {shown})")


@contextlib.contextmanager
def _client(url: str, timeout: float) -> Iterator[tuple[GitClient, str]]:
    """A dulwich client for git:// or smart HTTP(S); every transport failure becomes one GitSourceError."""
    if urlparse(url).scheme not in NETWORK_SCHEMES:
        raise GitSourceError(f"{url}: a git remote is reached over git://, http:// or https://")
    try:
        with network_client(url, timeout) as opened:
            yield opened
    except GitSourceError:
        raise
    except NotGitRepository:
        raise GitSourceError(f"{url}: not a git repository") from None
    except (OSError, GitProtocolError, HangupException, urllib3.exceptions.HTTPError) as error:
        raise GitSourceError(f"{url}: cannot be reached: {type(error).__name__}: {error}") from None


def fetch_file(url: str, ref: str, path: str, directory: Path, *, max_bytes: int, progress: Progress,
               skip: Callable[[Tip], bool] | None = None, timeout: float = 60.0) -> Fetched:
    """Fetch the ref's tip and copy the file at `path` in it to a new file in `directory` (the caller
    removes it). `skip(tip)` sees what the ref points at before anything is fetched; True fetches nothing
    (the tip was judged before). The pack may be at most max_bytes plus PACK_SLACK."""
    found: list[tuple[Tip, bool]] = []  # the tip, and whether it is skipped

    def determine_wants(refs: Mapping[Ref, ObjectID], depth: int | None = None) -> list[ObjectID]:
        tip = _tip(refs, ref, url)
        skipped = skip is not None and skip(tip)
        found.append((tip, skipped))
        return [] if skipped else [ObjectID(tip.object_id.encode())]

    limit = max_bytes + PACK_SLACK
    fd, pack_path = temp_file(directory, ".pack")
    try:
        with os.fdopen(fd, "wb") as out:
            received, shown, digest, tail = 0, 0, hashlib.sha1(), b""

            def write(data: bytes) -> int:
                nonlocal received, shown, tail
                received += len(data)
                if received > limit:
                    raise GitSourceError(f"{url}: the remote sent more than {limit} bytes for {ref}; "
                                         f"a bundle may be at most {max_bytes} bytes")
                out.write(data)
                joined = tail + data  # the pack's last 20 bytes are the SHA-1 of what comes before
                digest.update(joined[:-20])
                tail = joined[-20:]
                if received - shown >= PROGRESS_EVERY:
                    shown = received
                    progress("git fetch", received, received)
                return len(data)

            with _client(url, timeout) as (client, remote_path):
                client.fetch_pack(remote_path, determine_wants, ObjectStoreGraphWalker([], lambda _: []),
                                  write, depth=1)
            out.flush()
            os.fsync(out.fileno())
        if not found:
            raise GitSourceError(f"{url}: the remote listed no refs")
        tip, skipped = found[-1]
        if skipped:
            return Fetched(tip, None)
        if received == 0:
            raise GitSourceError(f"{url}: the remote sent no objects for {tip.ref}")
        progress("git fetch", received, received)
        if tail != digest.digest():
            raise GitSourceError(f"{url}: the pack's checksum does not match; the transfer was damaged")
        with open(pack_path, "rb") as pack_file:
            pack = Pack(pack_file, str(url))
            blob = pack.find(tip.object_id, path)
            if (size := pack.size(blob)) > max_bytes:
                raise BundleRefused("size", f"{url} {tip.ref}:{path} is {size} bytes, over the limit of "
                                            f"{max_bytes} bytes")
            return Fetched(tip, pack.extract(blob, directory, progress))
    finally:
        pack_path.unlink(missing_ok=True)


@dataclass
class _Entry:
    offset: int
    kind: int  # 1-4, or OFS_DELTA / REF_DELTA
    size: int  # of the object, or of the delta instructions
    data_at: int  # where its zlib stream starts
    base: int | str | None = None  # a delta's base: its offset, or its hex SHA-1
    type_name: bytes | None = None  # known once resolved
    sha: str | None = None


class Pack:
    """A pack file read in place: one pass names every plain object, deltas are resolved after."""

    def __init__(self, file: BinaryIO, where: str) -> None:
        self.file, self.where = file, where
        self.by_offset: dict[int, _Entry] = {}
        self.by_sha: dict[str, _Entry] = {}
        self._scan()
        self._resolve()

    def _error(self, text: str) -> GitSourceError:
        return GitSourceError(f"{self.where}: the pack {text}")

    def _read(self, n: int) -> bytes:
        data = self.file.read(n)
        if len(data) != n:
            raise self._error("ends early")
        return data

    def _inflate(self, at: int, size: int, sink: Callable[[bytes], object]) -> None:
        """Feed the zlib stream at `at` to sink, checking it holds `size` bytes; leaves the file after it."""
        self.file.seek(at)
        inflater, total = zlib.decompressobj(), 0
        while not inflater.eof:
            chunk = self.file.read(CHUNK)
            if not chunk:
                raise self._error(f"ends inside the object at offset {at}")
            while chunk and not inflater.eof:
                try:
                    data = inflater.decompress(chunk, CHUNK)
                except zlib.error as error:
                    raise self._error(f"holds damaged data at offset {at}: {error}") from None
                chunk = inflater.unconsumed_tail
                total += len(data)
                if total > size:
                    raise self._error(f"object at offset {at} is longer than its {size} bytes")
                sink(data)
        self.file.seek(-len(inflater.unused_data), os.SEEK_CUR)
        if total != size:
            raise self._error(f"object at offset {at} has {total} of its {size} bytes")

    def _scan(self) -> None:
        self.file.seek(0)
        magic, version, count = struct.unpack(">4sII", self._read(12))
        if magic != b"PACK" or version not in (2, 3):
            raise self._error(f"is not a git pack (starts {magic!r}, version {version})")
        for _ in range(count):
            offset = self.file.tell()
            byte = self._read(1)[0]
            kind, size, shift = (byte >> 4) & 7, byte & 15, 4
            while byte & 0x80:
                byte = self._read(1)[0]
                size |= (byte & 0x7F) << shift
                shift += 7
            entry = _Entry(offset, kind, size, 0)
            if kind == OFS_DELTA:
                byte = self._read(1)[0]
                back = byte & 0x7F
                while byte & 0x80:
                    byte = self._read(1)[0]
                    back = ((back + 1) << 7) | (byte & 0x7F)
                entry.base = offset - back
            elif kind == REF_DELTA:
                entry.base = self._read(20).hex()
            elif kind not in _TYPES:
                raise self._error(f"has an object of unknown type {kind} at offset {offset}")
            entry.data_at = self.file.tell()
            if kind in _TYPES:
                type_name = _TYPES[kind]
                digest = hashlib.sha1(b"%s %d\0" % (type_name, size))
                self._inflate(entry.data_at, size, digest.update)
                entry.type_name, entry.sha = type_name, digest.hexdigest()
                self.by_sha[entry.sha] = entry
            else:
                self._inflate(entry.data_at, size, lambda _: None)
            self.by_offset[offset] = entry

    def _base(self, entry: _Entry) -> _Entry | None:
        return self.by_offset.get(entry.base) if isinstance(entry.base, int) else \
            self.by_sha.get(entry.base) if isinstance(entry.base, str) else None

    def _resolve(self) -> None:
        """Name the deltas small enough to rebuild in memory, each once its base has a name."""
        pending = [e for e in self.by_offset.values() if e.sha is None]
        while pending:
            left = []
            for entry in pending:
                base = self._base(entry)
                if base is None or base.type_name is None or entry.size > DELTA_LIMIT \
                        or self.size(entry) > DELTA_LIMIT or self.size(base) > DELTA_LIMIT:
                    left.append(entry)
                    continue
                data = self.content(entry, base.type_name)
                entry.type_name = base.type_name
                entry.sha = hashlib.sha1(b"%s %d\0" % (base.type_name, len(data)) + data).hexdigest()
                self.by_sha.setdefault(entry.sha, entry)
            if len(left) == len(pending):
                return  # the rest are too big, or their bases are not in this pack
            pending = left

    def size(self, entry: _Entry) -> int:
        """The object's size; a delta starts with its base's size, then its result's."""
        if entry.kind in _TYPES:
            return entry.size
        self.file.seek(entry.data_at)
        try:
            head = zlib.decompressobj().decompress(self.file.read(4096), 32)
            _, at = _varint(head, 0)
            return _varint(head, at)[0]
        except (zlib.error, IndexError):
            raise self._error(f"holds a damaged delta at offset {entry.offset}") from None

    def _delta(self, entry: _Entry) -> bytes:
        parts: list[bytes] = []
        self._inflate(entry.data_at, entry.size, parts.append)
        return b"".join(parts)

    def content(self, entry: _Entry, type_name: bytes | None = None) -> bytes:
        """An object's bytes, in memory: for commits, trees and tags, and deltas up to DELTA_LIMIT."""
        if entry.kind in _TYPES:
            if entry.size > DELTA_LIMIT:
                raise self._error(f"object {entry.sha} is too big to read into memory ({entry.size} bytes)")
            return self._delta(entry)
        base = self._base(entry)
        if base is None:
            raise self._error(f"lacks the base of the delta at offset {entry.offset}")
        result = apply_delta(self.content(base), self._delta(entry))
        return b"".join(result) if isinstance(result, list) else bytes(result)

    def _object(self, sha: str, what: str) -> _Entry:
        entry = self.by_sha.get(sha)
        if entry is None:
            raise self._error(f"does not hold {what} {sha} (or it is a delta over {DELTA_LIMIT} bytes)")
        return entry

    def find(self, tip: str, path: str) -> _Entry:
        """The blob at `path` in the commit `tip` names (through annotated tags)."""
        entry = self._object(tip, "the ref's object")
        while entry.type_name == b"tag":
            entry = self._object(_header(self.content(entry), b"object"), "the tagged object")
        if entry.type_name != b"commit":
            raise self._error(f"names a {entry.type_name!r} at the ref, not a commit")
        sha, walked = _header(self.content(entry), b"tree"), list[str]()
        for name in path.split("/"):
            tree = self._object(sha, f"the tree of {'/'.join(walked) or 'the root'}")
            found = _tree(self.content(tree))
            walked.append(name)
            if name.encode() not in found:
                raise GitSourceError(f"{self.where}: no {'/'.join(walked)} in the commit")
            mode, sha = found[name.encode()]
            if len(walked) < len(path.split("/")) and mode & 0o170000 != 0o040000:
                raise GitSourceError(f"{self.where}: {'/'.join(walked)} is not a directory")
        blob = self._object(sha, f"the file {path}")
        if blob.type_name != b"blob":
            raise GitSourceError(f"{self.where}: {path} is not a file")
        return blob

    def extract(self, blob: _Entry, directory: Path, progress: Progress) -> Path:
        """Copy the blob to a new file in directory, inflating as it goes; returns its path."""
        fd, path = temp_file(directory, ".download")
        try:
            with os.fdopen(fd, "wb") as out:
                size = self.size(blob)
                done = 0

                def sink(data: bytes) -> None:
                    nonlocal done
                    out.write(data)
                    done += len(data)
                    progress("extract", done, size)

                if blob.kind in _TYPES:
                    self._inflate(blob.data_at, blob.size, sink)
                else:
                    sink(self.content(blob))
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path


def _header(content: bytes, key: bytes) -> str:
    """A commit's `tree` or a tag's `object` line."""
    for line in content.split(b"\n"):
        if not line:
            break
        name, _, value = line.partition(b" ")
        if name == key:
            return value.decode()
    raise GitSourceError(f"an object without a {key.decode()} line")


def _tree(content: bytes) -> dict[bytes, tuple[int, str]]:
    """A tree's entries, name -> (mode, hex SHA-1): `MODE NAME\\0` and 20 bytes each."""
    entries, at = {}, 0
    while at < len(content):
        space, nul = content.find(b" ", at), content.find(b"\0", at)
        if space < 0 or nul < space or nul + 21 > len(content):
            raise GitSourceError("a damaged tree object")
        entries[content[space + 1:nul]] = (int(content[at:space], 8), content[nul + 1:nul + 21].hex())
        at = nul + 21
    return entries


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at
