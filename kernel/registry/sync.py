"""Pull and push: a pull fetches a remote's main branch, checks every file it has not seen, and
merges records by the rule in merge.py; a push publishes this node's main branch to a remote that
has nothing this node has not pulled.

A pull lands whole or not at all. The fetch goes into a quarantine repository beside registry.git
(its object store borrows the registry's through git alternates); only when every new file passed
its checks are the packs moved into registry.git and synced, then `main` moves (the commit point),
then the remote's tracking ref, then SQLite in one transaction. A power cut before `main` moves
leaves unreferenced objects at most; after it, reopening syncs SQLite from git."""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dulwich.object_store import BaseObjectStore, MemoryObjectStore, OverlayObjectStore, commit_tree_changes
from dulwich.objects import Blob, ObjectID, Tree
from dulwich.refs import Ref
from dulwich.repo import Repo

from . import layout, merge, remotes
from .history import BRANCH, History, WrongObject, is_ancestor, load, make_commit, pull_message, tree_of
from .record import Record
from .remotes import Problem, RemoteError, SyncRefused

if TYPE_CHECKING:
    from . import Registry

INCOMING = "registry-incoming"


@dataclass(frozen=True)
class PullResult:
    remote: str
    head: str | None  # the remote head now merged (None: the remote is empty)
    new_apps: tuple[str, ...] = ()
    untrusted: tuple[str, ...] = ()  # of new_apps, those whose signer this node does not trust
    same_apps: int = 0  # apps both sides had: one record, this node's copy kept
    statements: int = 0  # ratings, audits and key rotations taken
    skipped_removed: int = 0  # apps this node removed, not brought back
    fetched_bytes: int = 0
    up_to_date: bool = False


@dataclass(frozen=True)
class PushResult:
    remote: str
    head: str
    files: int  # files the remote did not have at this path (records, statements)
    up_to_date: bool = False


class Quarantine:
    """A scratch bare repository whose object store borrows registry.git's: fetched objects wait here
    until checked, and vanish with it if the pull is refused."""

    def __init__(self, root: Path, history: History) -> None:
        self.path = root / INCOMING / uuid.uuid4().hex
        self.path.parent.mkdir(exist_ok=True)
        self.repo = Repo.init_bare(str(self.path), mkdir=True)
        self.store = self.repo.object_store
        self.store.add_alternate_path(history.store.path)
        self.store.fsync_object_files = True
        self.history = history

    def land(self) -> None:
        """Move the quarantined packs into registry.git: each pack before its index (dulwich and git
        only see a pack whose .idx exists), both synced, then the directory."""
        source = Path(self.store.pack_dir)
        target = Path(self.history.store.pack_dir)
        for pack in sorted(source.glob("*.pack")):
            index = pack.with_suffix(".idx")
            for path in (pack, index):
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            if not (target / index.name).exists():
                os.replace(pack, target / pack.name)
                os.replace(index, target / index.name)
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        self.repo.close()
        shutil.rmtree(self.path, ignore_errors=True)


def clear_quarantine(root: Path) -> None:
    """Remove quarantines left by a pull that was killed (only with the registry lock held)."""
    shutil.rmtree(root / INCOMING, ignore_errors=True)


def pull(registry: Registry, name: str) -> PullResult:
    history = registry.history
    remote = remotes.get(history.repo, name)
    with registry._locked():
        registry._reconcile()
        clear_quarantine(registry.root)
        local, seen = history.head(), history.tracking(name)
        quarantine = Quarantine(registry.root, history)
        try:
            haves = [c for c in {local, seen, *_tracked(history)} if c]
            from . import transport  # here: urllib3 and dulwich's client, ~25 ms of every kernel start

            fetched = transport.fetch(name, remote.url, quarantine.repo, haves)
            if fetched.head is None:
                if fetched.refs:
                    raise SyncRefused(f"pull from {name}", [Problem(remote.url, "has no refs/heads/main: "
                                                                "not an LLM OS registry")])
                return PullResult(name, None, up_to_date=True)
            head = fetched.head
            if head == seen or (local is not None and head == local):
                history.set_tracking(name, head)
                return PullResult(name, head.decode(), up_to_date=True, fetched_bytes=fetched.pack_bytes)
            store = quarantine.store
            _check_marker(name, store, head)
            if seen is not None and not is_ancestor(store, seen, head):
                _check_rewrite(name, history, store, seen, head)
            incoming = _check_files(name, history, store, seen, head)
            plan = merge.plan(incoming, registry.index)
            commit = _merge_commit(history, quarantine, local, head,
                                   pull_message(name, remote.url, _summary(plan)), plan)
            quarantine.land()
        finally:
            quarantine.close()
        history.move_head(local, commit)  # the commit point
        history.set_tracking(name, head)
        registry._reconcile(known={i.blob: i.item for i in incoming})
    authors = {i.entry.app: i.item.signedBy for i in incoming if isinstance(i.item, Record)}
    untrusted = tuple(registry.untrusted({d: authors[d] for d in plan.new_apps}))
    return PullResult(name, head.decode(), tuple(plan.new_apps), untrusted, len(plan.same_apps),
                      plan.statements, len(plan.skipped_removed), fetched.pack_bytes)


def _tracked(history: History) -> list[ObjectID]:
    return list(history.repo.refs.as_dict(Ref(b"refs/remotes")).values())


def _summary(plan: merge.Plan) -> str:
    return (f"{len(plan.new_apps)} new apps, {plan.statements} statements, "
            f"{len(plan.same_apps)} apps both sides had")


def _check_marker(name: str, store: BaseObjectStore, head: ObjectID) -> None:
    where = f"commit {head.decode()}"
    try:
        tree = load(store, tree_of(store, head), Tree)
        if layout.MARKER not in tree:
            raise SyncRefused(f"pull from {name}",
                              [Problem(where, "no registry.json: not an LLM OS registry")])
        mode, blob = tree[layout.MARKER]
        layout.check(layout.classify(layout.MARKER, mode), load(store, blob, Blob).data)
    except layout.LayoutError as error:
        raise SyncRefused(f"pull from {name}", [Problem(where, error.reason)]) from None
    except WrongObject as error:
        raise SyncRefused(f"pull from {name}", [Problem(where, str(error))]) from None


def _check_rewrite(name: str, history: History, store: BaseObjectStore, seen: ObjectID,
                   head: ObjectID) -> None:
    """The remote's history no longer contains what this node pulled last time (a force-push). That
    is refused if any file this node saw there was changed or dropped."""
    problems = []
    for change in history.changes(seen, head, store):
        if change.old is None:
            continue
        try:
            subject = layout.classify(change.old.path, change.old.mode).subject
        except layout.LayoutError as error:
            subject = error.subject
        what = "removed" if change.new is None else "replaced"
        problems.append(Problem(subject, f"{what} by a force-push (history rewritten; already-seen "
                                         "records are never replaced)"))
    if problems:
        raise SyncRefused(f"pull from {name}", problems)


def _check_files(name: str, history: History, store: BaseObjectStore, seen: ObjectID | None,
                 head: ObjectID) -> list[merge.Incoming]:
    """Every file added or changed since the head this node last saw, checked; all problems listed."""
    problems: list[Problem] = []
    incoming: list[merge.Incoming] = []
    for change in history.changes(seen, head, store):
        new = change.new
        if new is None:
            continue
        try:
            entry = layout.classify(new.path, new.mode)
            blob = store[new.sha]
            if not isinstance(blob, Blob):
                raise layout.LayoutError(entry.subject, "not a file")
            incoming.append(merge.Incoming(entry, new.sha, layout.check(entry, blob.data)))
        except layout.LayoutError as error:
            problems.append(Problem(error.subject, error.reason))
    if problems:
        raise SyncRefused(f"pull from {name}", problems)
    return incoming


def _merge_commit(history: History, quarantine: Quarantine, local: ObjectID | None, head: ObjectID,
                  message: str, plan: merge.Plan) -> ObjectID:
    """Build the merge commit (and, for an empty registry, the first commit holding the marker) in
    memory, then write them into the quarantine as one synced pack."""
    new = MemoryObjectStore()
    store = OverlayObjectStore([new, quarantine.store], add_store=new)
    if local is None:
        marker = Blob.from_string(layout.marker())
        store.add_object(marker)
        root = commit_tree_changes(store, Tree(), [(layout.MARKER, layout.FILE_MODE, marker.id)])
        first = make_commit(root, [], "Create the registry")
        store.add_object(first)
        local_tree, parents = root, [first.id]
    else:
        local_tree, parents = tree_of(history.store, local), [local]
    tree = commit_tree_changes(store, local_tree, plan.changes) if plan.changes else local_tree
    commit = make_commit(tree, [*parents, head], message)
    store.add_object(commit)
    quarantine.store.add_objects([(new[sha], None) for sha in new])
    return commit.id


def push(registry: Registry, name: str) -> PushResult:
    history = registry.history
    remote = remotes.get(history.repo, name)
    with registry._locked():
        registry._reconcile()
        local = history.head()
        if local is None:
            raise RemoteError("nothing to publish: this registry is empty")
        seen = history.tracking(name)
        checked: dict[str, int] = {}

        def update_refs(refs: dict[Ref, ObjectID]) -> dict[Ref, ObjectID]:
            theirs = refs.get(BRANCH)
            if theirs == local:
                return {}
            if theirs is not None and theirs != seen and (
                    theirs not in history.store or not history.is_ancestor(theirs, local)):
                raise RemoteError(f"{name} has changes this machine has not pulled; "
                                  f"run `llmos app pull {name}` first")
            checked["files"] = _check_outgoing(name, history, theirs, local)
            return {BRANCH: local}

        from . import transport

        status = transport.push(name, remote.url, history.repo, update_refs)
        failed = {ref.decode(): why for ref, why in status.items() if why}
        if failed:
            raise RemoteError(f"{name} refused the push: {failed}")
        history.set_tracking(name, local)
    return PushResult(name, local.decode(), checked.get("files", 0), up_to_date="files" not in checked)


def _check_outgoing(name: str, history: History, theirs: ObjectID | None, local: ObjectID) -> int:
    """What this node publishes must verify: every file the remote lacks passes the same checks a
    pull would make, so a tampered local file is never published."""
    problems: list[Problem] = []
    count = 0
    for change in history.changes(theirs, local):
        if change.new is None:
            continue
        count += 1
        try:
            entry = layout.classify(change.new.path, change.new.mode)
            layout.check(entry, history.read(change.new.sha))
        except layout.LayoutError as error:
            problems.append(Problem(error.subject, error.reason))
    if problems:
        raise SyncRefused(f"push to {name}", problems)
    return count
