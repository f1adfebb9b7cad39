"""The registry's git history, written with dulwich: one commit per change, one file per app
(apps/<2 hex>/<hash>.json, sharded like git's own objects so a commit rewrites two small trees, not a
10,000-entry one). Objects are written before the ref moves, so a crash leaves the ref on a complete
commit; `git log` on the bare repository reads it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from dulwich.object_store import commit_tree_changes
from dulwich.objects import Blob, Commit, Tree
from dulwich.repo import Repo

BRANCH = b"refs/heads/main"
IDENTITY = b"LLM OS registry <registry@llmos.local>"
FILE_MODE = 0o100644


def app_path(digest: str) -> bytes:
    hexdigest = digest.removeprefix("sha256:")
    return f"apps/{hexdigest[:2]}/{hexdigest}.json".encode()


class History:
    def __init__(self, path: Path) -> None:
        if (path / "HEAD").exists():
            self.repo = Repo(str(path))
        else:
            self.repo = Repo.init_bare(str(path), mkdir=not path.exists(), default_branch=b"main")
            self.repo.refs.set_symbolic_ref(b"HEAD", BRANCH)

    def close(self) -> None:
        self.repo.close()

    def head(self) -> bytes | None:
        try:
            return self.repo.refs[BRANCH]
        except KeyError:
            return None

    def _tree(self, head: bytes | None) -> Tree:
        return self.repo[self.repo[head].tree] if head else Tree()

    def entries(self, head: bytes | None = None) -> dict[str, bytes]:
        """code hash -> blob id, for every app at `head` (default: the current head)."""
        head = head if head is not None else self.head()
        found: dict[str, bytes] = {}
        root = self._tree(head)
        if b"apps" not in root:
            return found
        apps = self.repo[root[b"apps"][1]]
        for shard in apps.iteritems():
            for item in self.repo[shard.sha].iteritems():
                name = item.path.decode()
                if name.endswith(".json"):
                    found["sha256:" + name.removesuffix(".json")] = item.sha
        return found

    def read(self, blob_id: bytes) -> bytes:
        return self.repo[blob_id].data

    def commit(self, changes: dict[str, bytes | None], message: str) -> tuple[bytes, dict[str, bytes]]:
        """Write blobs, trees and the commit, then move the branch (compare-and-swap on the old head).
        `changes` maps code hash -> file content, or None to delete the app."""
        store = self.repo.object_store
        old = self.head()
        tree_changes = []
        blobs: dict[str, bytes] = {}
        for digest, content in sorted(changes.items()):
            if content is None:
                tree_changes.append((app_path(digest), None, None))
            else:
                blob = Blob.from_string(content)
                store.add_object(blob)
                tree_changes.append((app_path(digest), FILE_MODE, blob.id))
                blobs[digest] = blob.id
        base = self.repo[old].tree if old else Tree().id
        if not old:
            store.add_object(Tree())
        commit = Commit()
        commit.tree = commit_tree_changes(store, base, tree_changes)
        commit.parents = [old] if old else []
        commit.author = commit.committer = IDENTITY
        commit.author_time = commit.commit_time = int(time.time())
        commit.author_timezone = commit.commit_timezone = 0
        commit.encoding = b"UTF-8"
        commit.message = message.encode("utf-8") + b"\n"
        store.add_object(commit)
        if not self.repo.refs.set_if_equals(BRANCH, old, commit.id):
            raise RuntimeError("registry history moved during a write (is the lock held?)")
        return commit.id, blobs

    def log(self, limit: int = 50) -> Iterator[tuple[bytes, str]]:
        head = self.head()
        if head is None:
            return
        for entry in self.repo.get_walker(include=[head], max_entries=limit):
            yield entry.commit.id, entry.commit.message.decode("utf-8", "replace").strip()


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
