"""The registry's git history, written with dulwich: one commit per change on `main`, one file per app
or statement (layout.py). Objects are written before the ref moves, so a crash leaves the ref on a
complete commit; `git log` on the bare repository reads it.

`main`'s first-parent chain holds only this node's own commits: a pull always lands as a merge commit
whose second parent is the remote's head and whose message carries a `Pulled-from: NAME` trailer, so
where each app came from can be rebuilt from the history alone."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from dulwich.diff_tree import TreeChange, tree_changes
from dulwich.object_store import (
    BaseObjectStore,
    DiskObjectStore,
    MemoryObjectStore,
    OverlayObjectStore,
    commit_tree_changes,
)
from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tree, TreeEntry
from dulwich.refs import HEADREF, Ref
from dulwich.repo import Repo

BRANCH = Ref(b"refs/heads/main")
IDENTITY = b"LLM OS registry <registry@llmos.local>"
FILE_MODE = 0o100644
PACK_THRESHOLD = 64  # objects in one commit above which they are written as a pack
TRAILER = "Pulled-from"
_TRAILER_RE = re.compile(rb"^" + TRAILER.encode() + rb": (\S+)$", re.MULTILINE)
_Object = TypeVar("_Object", bound=ShaFile)


class WrongObject(ValueError):
    """The history names an object of another type than the one its place needs (a corrupt or
    hostile repository)."""


def load(store: BaseObjectStore, sha: ObjectID, kind: type[_Object]) -> _Object:
    """The object `sha`, checked to be a `kind` (Commit, Tree, Blob): dulwich's store hands out
    any ShaFile."""
    found = store[sha]
    if not isinstance(found, kind):
        raise WrongObject(f"{sha.decode()} is a {found.type_name.decode()}, not a {kind.type_name.decode()}")
    return found


def tree_of(store: BaseObjectStore, commit: ObjectID) -> ObjectID:
    """The root tree of a commit (dulwich types Commit.tree loosely, as a serializable property)."""
    return ObjectID(load(store, commit, Commit).tree)


def tracking_ref(remote: str) -> Ref:
    """Where the remote's head was when this node last pulled from or pushed to it."""
    return Ref(f"refs/remotes/{remote}/main".encode())


class History:
    def __init__(self, path: Path) -> None:
        if (path / "HEAD").exists():
            self.repo = Repo(str(path))
        else:
            self.repo = Repo.init_bare(str(path), mkdir=not path.exists(), default_branch=b"main")
            self.repo.refs.set_symbolic_ref(HEADREF, BRANCH)

    def close(self) -> None:
        self.repo.close()

    @property
    def store(self) -> DiskObjectStore:
        return self.repo.object_store

    def head(self) -> ObjectID | None:
        try:
            return self.repo.refs[BRANCH]
        except KeyError:
            return None

    def root(self, commit: ObjectID | None) -> Tree:
        """The root tree of a commit (no commit: the empty tree of the empty registry)."""
        return load(self.store, tree_of(self.store, commit), Tree) if commit else Tree()

    def entries(self, head: ObjectID | None = None) -> dict[str, ObjectID]:
        """code hash -> blob id, for every app at `head` (default: the current head)."""
        head = head if head is not None else self.head()
        found: dict[str, ObjectID] = {}
        root = self.root(head)
        if b"apps" not in root:
            return found
        apps = load(self.store, root[b"apps"][1], Tree)
        for shard in apps.iteritems():
            for item in load(self.store, shard.sha, Tree).iteritems():
                name = item.path.decode()
                if name.endswith(".json"):
                    found["sha256:" + name.removesuffix(".json")] = item.sha
        return found

    def changes(self, old: ObjectID | None, new: ObjectID | None,
                store: BaseObjectStore | None = None) -> Iterator[TreeChange]:
        """File changes from commit `old` to commit `new` (None: the empty tree). Equal subtrees are
        skipped by id, so the cost follows the size of the change, not of the registry."""
        store = store or self.store
        old_tree = tree_of(store, old) if old else None
        new_tree = tree_of(store, new) if new else None
        return tree_changes(store, old_tree, new_tree)

    def read(self, blob_id: ObjectID) -> bytes:
        return load(self.store, blob_id, Blob).data

    def commit(self, changes: dict[bytes, bytes | None],
               message: str) -> tuple[ObjectID, dict[bytes, ObjectID]]:
        """Write blobs, trees and the commit, then move the branch (compare-and-swap on the old head).
        `changes` maps a path to the file's content, or to None to delete it. Returns the commit and
        the blob id of each written path."""
        new = MemoryObjectStore()
        store = OverlayObjectStore([new, self.store], add_store=new)
        old = self.head()
        tree_changes_: list[tuple[bytes, int | None, ObjectID | None]] = []
        blobs: dict[bytes, ObjectID] = {}
        for path, content in sorted(changes.items()):
            if content is None:
                tree_changes_.append((path, None, None))
            else:
                blob = Blob.from_string(content)
                store.add_object(blob)
                tree_changes_.append((path, FILE_MODE, blob.id))
                blobs[path] = blob.id
        base = tree_of(self.store, old) if old else Tree()
        commit = make_commit(commit_tree_changes(store, base, tree_changes_), [old] if old else [], message)
        store.add_object(commit)
        self.write_objects([new[sha] for sha in new])
        self.move_head(old, commit.id)
        return commit.id, blobs

    def write_objects(self, objects: list[ShaFile]) -> None:
        """A few objects as loose files; many as one pack (one file to write, not thousands)."""
        if len(objects) > PACK_THRESHOLD:
            self.store.add_objects([(obj, None) for obj in objects])
        else:
            for obj in objects:
                self.store.add_object(obj)

    def move_head(self, old: ObjectID | None, new: ObjectID) -> None:
        """The commit point of every change: compare-and-swap, so a concurrent writer is caught."""
        if not self.repo.refs.set_if_equals(BRANCH, old, new):
            raise RuntimeError("registry history moved during a write (is the lock held?)")

    def tracking(self, remote: str) -> ObjectID | None:
        try:
            return self.repo.refs[tracking_ref(remote)]
        except KeyError:
            return None

    def set_tracking(self, remote: str, commit: ObjectID) -> None:
        self.repo.refs[tracking_ref(remote)] = commit

    def drop_tracking(self, remote: str) -> None:
        self.repo.refs.remove_if_equals(tracking_ref(remote), None)

    def is_ancestor(self, ancestor: ObjectID, commit: ObjectID) -> bool:
        """Whether `ancestor` is in `commit`'s history (a walk; used off the hot path)."""
        return is_ancestor(self.store, ancestor, commit)

    def pulled(self, head: ObjectID | None, stop: ObjectID | None) -> dict[bytes, str]:
        """path -> remote name, for files that pull merges added, walking `main`'s first parents from
        `head` back to `stop` (or to the root): how the index learns where a pulled app came from."""
        found: dict[bytes, str] = {}
        current = head
        while current and current != stop:
            commit = load(self.store, current, Commit)
            match = _TRAILER_RE.search(commit.message)
            if match and len(commit.parents) >= 2:
                remote = match.group(1).decode()
                for change in tree_changes(self.store, tree_of(self.store, commit.parents[0]), commit.tree):
                    if change.type == "add" and change.new is not None:
                        found.setdefault(change.new.path, remote)
            current = commit.parents[0] if commit.parents else None
        return found

    def files(self, commit: ObjectID) -> Iterator[TreeEntry]:
        """Every file at `commit`."""
        for change in tree_changes(self.store, None, tree_of(self.store, commit)):
            if change.new is not None:
                yield change.new

    def log(self, limit: int = 50) -> Iterator[tuple[ObjectID, str]]:
        head = self.head()
        if head is None:
            return
        for entry in self.repo.get_walker(include=[head], max_entries=limit):
            yield entry.commit.id, entry.commit.message.decode("utf-8", "replace").strip()


def is_ancestor(store: BaseObjectStore, ancestor: ObjectID, commit: ObjectID) -> bool:
    """Whether `ancestor` is in `commit`'s history, walking `store` (a walk; used off the hot path)."""
    seen: set[ObjectID] = set()
    todo = [commit]
    while todo:
        current = todo.pop()
        if current == ancestor:
            return True
        if current in seen:
            continue
        seen.add(current)
        todo.extend(reversed(load(store, current, Commit).parents))
    return False


def make_commit(tree: ObjectID, parents: list[ObjectID], message: str) -> Commit:
    commit = Commit()
    commit.tree = tree
    commit.parents = parents
    commit.author = commit.committer = IDENTITY
    commit.author_time = commit.commit_time = int(time.time())
    commit.author_timezone = commit.commit_timezone = 0
    commit.encoding = b"UTF-8"
    commit.message = message.encode("utf-8") + b"\n"
    return commit


def pull_message(remote: str, url: str, summary: str) -> str:
    return f"Pull from {remote}: {summary}\n\n{url}\n\n{TRAILER}: {remote}"


def remove_stale_locks(path: Path) -> list[Path]:
    """A process killed inside a dulwich write leaves `<file>.lock` behind, and dulwich then refuses
    to write that object or ref ever again. Only call this while holding the registry lock, when no
    writer of ours can be alive."""
    removed = []
    for pattern in ("refs/**/*.lock", "objects/??/*.lock", "*.lock"):
        for lock in path.glob(pattern):
            lock.unlink(missing_ok=True)
            removed.append(lock)
    return removed
