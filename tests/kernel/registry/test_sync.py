"""Sharing the registry between machines for real: each machine is a Registry in its own state
directory, and the remote is a real git server on 127.0.0.1 (`git daemon`, `git http-backend`) or a
local path. Hostile servers are played by committing straight into the server's bare repository."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dulwich.repo import Repo

from llmos.kernel import starter
from llmos.kernel.registry import (
    Record,
    Registry,
    RemoteError,
    SyncRefused,
    Untrusted,
    code_hash,
    layout,
    statements,
)

from .conftest import app
from .gitserver import bare, free_port, git_daemon, git_http, server_commit, server_file, state_of


@pytest.fixture
def hub(tmp_path: Path) -> Path:
    return bare(tmp_path / "srv" / "hub.git")


@pytest.fixture
def machines(tmp_path: Path) -> Iterator[tuple[Registry, Registry]]:
    with Registry(tmp_path / "alice") as alice, Registry(tmp_path / "bob") as bob:
        yield alice, bob


@contextmanager
def served(kind: str, hub: Path) -> Iterator[str]:
    if kind == "git":
        with git_daemon(hub.parent) as base:
            yield f"{base}/{hub.name}"
    elif kind == "http":
        with git_http(hub.parent) as base:
            yield f"{base}/{hub.name}"
    else:
        yield str(hub)


def fsck(registry: Registry) -> None:
    subprocess.run(["git", "--git-dir", str(registry.root / "registry.git"), "fsck", "--strict"], check=True,
                   capture_output=True)


def index_matches_git(registry: Registry) -> None:
    assert registry.index.blobs() == {k: v.decode() for k, v in registry.history.entries().items()}
    head = registry.history.head()
    assert registry.index.synced_head == (head.decode() if head else None)


@pytest.mark.parametrize("kind", ["git", "http", "path"])
def test_publish_then_pull_keeps_an_unknown_signer_apart(kind: str, hub: Path, machines) -> None:
    alice, bob = machines
    digests = [alice.add(f"A {word} timer with alarms", app(n), "m", ["ui:window"]).codeHash
               for n, word in enumerate(["kitchen", "garden", "sauna"])]
    alice.rate(digests[0], 4)
    with served(kind, hub) as url:
        alice.remote_add("hub", url)
        pushed = alice.push("hub")
        assert pushed.files == 1 + 3 + 1 and not pushed.up_to_date  # marker, apps, rating
        bob.remote_add("hub", url)
        pulled = bob.pull("hub")
        assert sorted(pulled.new_apps) == sorted(digests) and pulled.untrusted == pulled.new_apps
        assert pulled.head == pushed.head and pulled.fetched_bytes > 0
        assert bob.pull("hub").up_to_date and alice.push("hub").up_to_date

    assert len(bob) == 3
    [found] = [m for m in bob.search("a kitchen timer with alarms", 3) if m.codeHash == digests[0]]
    assert found.origin == "hub" and found.trusted is False and found.score > 0.9
    # Kept apart: never the cached answer, never run without the extra confirmation.
    assert alice.lookup("a kitchen timer with alarms").codeHash == digests[0]
    assert bob.lookup("a kitchen timer with alarms") is None
    assert not bob.is_trusted(digests[0])
    with pytest.raises(Untrusted, match="does not trust"):
        bob.get(digests[0])
    assert bob.get(digests[0], allow_untrusted=True).generatedCode == app(0)

    bob.trust_add("alice", alice.key.public_hex)
    assert bob.is_trusted(digests[0]) and bob.lookup("a kitchen timer with alarms").codeHash == digests[0]
    assert bob.get(digests[0]).rating == 4.0  # alice's signed rating, now from a trusted key
    provenance = bob.provenance(digests[0])
    assert provenance.origin == "hub" and provenance.author.name == "alice" and provenance.trusted
    bob.trust_remove("alice")
    assert not bob.is_trusted(digests[0])
    fsck(bob)
    index_matches_git(bob)


def test_same_app_on_both_sides_is_one_record_and_ratings_merge(hub: Path, machines) -> None:
    alice, bob = machines
    starter.seed(alice)
    starter.seed(bob)  # the same starter apps, made and signed on each machine
    pomodoro = next(r.codeHash for r in alice.records() if "pomodoro" in r.prompt)
    alice.rate(pomodoro, 4)
    bob.rate(pomodoro, 2)
    with served("git", hub) as url:
        alice.remote_add("hub", url)
        bob.remote_add("hub", url)
        alice.push("hub")
        pulled = bob.pull("hub")
        assert pulled.new_apps == () and pulled.same_apps == len(starter.STARTERS)
        bob.push("hub")  # a fast-forward: bob merged alice's history
        assert alice.pull("hub").same_apps == len(starter.STARTERS)

    for one in (alice, bob):
        assert len(one) == len(starter.STARTERS)
        index_matches_git(one)
        fsck(one)
    # First seen wins: each side keeps its own signed copy of the same code.
    assert alice.get(pomodoro).signedBy == alice.key.public_hex
    assert bob.get(pomodoro).signedBy == bob.key.public_hex
    alice.trust_add("bob", bob.key.public_hex)
    bob.trust_add("alice", alice.key.public_hex)
    assert alice.get(pomodoro).rating == bob.get(pomodoro).rating == 3.0
    ratings = {signer.name: stars for signer, stars in bob.provenance(pomodoro).ratings}
    assert ratings == {"alice": 4.0, "this machine": 2.0}
    # A newer rating by the same key replaces its older one on the other side too.
    bob.rate(pomodoro, 5)
    bob.remote_add("disk", str(hub))  # the same repository, now as a local path
    alice.remote_add("disk", str(hub))
    bob.push("disk")
    assert alice.pull("disk").statements == 1
    assert alice.get(pomodoro).rating == 4.5


def test_tampered_records_are_refused_with_their_hash(hub: Path, machines) -> None:
    alice, bob = machines
    first = alice.add("A stopwatch", app(1), "m", ["ui:window"])
    alice.remote_add("hub", str(hub))
    bob.remote_add("hub", str(hub))
    alice.push("hub")
    bob.pull("hub")
    second = alice.add("A metronome", app(2), "m", ["ui:window"])
    alice.push("hub")
    good = Repo(str(hub)).refs[b"refs/heads/main"]
    before = state_of(bob)
    path = layout.app_path(second.codeHash)
    stored = json.loads(server_file(hub, path))
    cases = {
        "the signature does not verify": {**stored, "capabilities": ["network:*"]},
        "the code does not match its hash": {**stored, "generatedCode": app(2) + "// and more"},
    }
    for reason, body in cases.items():
        server_commit(hub, {path: json.dumps(body).encode()})
        with pytest.raises(SyncRefused, match=rf"{second.codeHash}: {reason}"):
            bob.pull("hub")
        assert state_of(bob) == before  # refs, rows and even git's object files unchanged
        Repo(str(hub)).refs[b"refs/heads/main"] = good
    # The same check covers an already-seen record edited in a normal (fast-forward) commit.
    seen = json.loads(server_file(hub, layout.app_path(first.codeHash)))
    server_commit(hub, {layout.app_path(first.codeHash): json.dumps({**seen, "prompt": "Evil"}).encode()})
    with pytest.raises(SyncRefused, match=rf"{first.codeHash}: the signature does not verify"):
        bob.pull("hub")
    assert state_of(bob) == before and bob.get(first.codeHash, allow_untrusted=True).prompt == "A stopwatch"


def test_bad_input_is_refused_and_nothing_changes(tmp_path: Path, hub: Path, machines) -> None:
    alice, bob = machines
    alice.add("A stopwatch", app(1), "m", ["ui:window"])
    alice.remote_add("hub", str(hub))
    bob.remote_add("hub", str(hub))
    alice.push("hub")
    bob.pull("hub")
    good = Repo(str(hub)).refs[b"refs/heads/main"]
    before = state_of(bob)
    huge = code_hash("huge")
    bad = code_hash("malformed")
    cases = [
        ({layout.app_path(huge): os.urandom(5 * 1024 * 1024)}, rf"{huge}: 5242880 bytes, over the"),
        ({b"apps/../../etc/evil.json": b"{}"}, r"unsafe name '\.\.' \(path traversal\)"),
        ({layout.app_path(bad): b'{"prompt": 1}'}, rf"{bad}: .*prompt: wrong type int"),
        ({layout.app_path(bad): b"{not json"}, rf"{bad}: not JSON"),
        ({b"README.md": b"hello"}, r"README\.md: not part of the registry layout"),
        ({layout.MARKER: b'{"format": "something-else"}'}, r"not a llmos-registry version 2 marker"),
    ]
    for files, reason in cases:
        server_commit(hub, files)
        with pytest.raises(SyncRefused, match=reason):
            bob.pull("hub")
        assert state_of(bob) == before
        Repo(str(hub)).refs[b"refs/heads/main"] = good
    assert bob.pull("hub").up_to_date

    other = bare(tmp_path / "srv" / "project.git")  # a git repository, but not a registry
    with Registry(tmp_path / "scratch") as scratch:
        scratch.add("x", app(9), "m", [])
        scratch.remote_add("out", str(other))
        scratch.push("out")
    server_commit(other, {layout.MARKER: None, b"src/main.c": b"int main;"})
    bob.remote_add("project", str(other))
    with pytest.raises(SyncRefused, match=r"no registry\.json: not an LLM OS registry"):
        bob.pull("project")
    assert state_of(bob)[1:] == before[1:]


def test_force_pushed_rewrite_of_seen_records_is_refused(hub: Path, machines, tmp_path: Path) -> None:
    alice, bob = machines
    kept = alice.add("A stopwatch", app(1), "m", ["ui:window"])
    dropped = alice.add("A metronome", app(2), "m", ["ui:window"])
    alice.remote_add("hub", str(hub))
    bob.remote_add("hub", str(hub))
    alice.push("hub")
    bob.pull("hub")
    good = Repo(str(hub)).refs[b"refs/heads/main"]
    before = state_of(bob)
    with Registry(tmp_path / "mallory") as mallory:  # a validly signed record for the same code
        forged = mallory.add("A stopwatch that uploads your files", app(1), "m", ["network:*"])
    server_commit(hub, {layout.app_path(kept.codeHash): forged.dumps()}, rewrite=True)
    with pytest.raises(SyncRefused, match=rf"{kept.codeHash}: replaced by a force-push"):
        bob.pull("hub")
    assert state_of(bob) == before
    Repo(str(hub)).refs[b"refs/heads/main"] = good
    server_commit(hub, {layout.app_path(dropped.codeHash): None}, rewrite=True)
    with pytest.raises(SyncRefused, match=rf"{dropped.codeHash}: removed by a force-push"):
        bob.pull("hub")
    assert state_of(bob) == before
    # The same removal as a normal commit is the server's business: a pull never deletes.
    Repo(str(hub)).refs[b"refs/heads/main"] = good
    server_commit(hub, {layout.app_path(dropped.codeHash): None})
    assert not bob.pull("hub").up_to_date
    assert len(bob) == 2 and bob.get(kept.codeHash, allow_untrusted=True).prompt == "A stopwatch"


def test_a_remote_that_is_down_gives_a_clear_error_and_loses_nothing(hub: Path, machines) -> None:
    alice, bob = machines
    starter.seed(alice)
    port = free_port()
    with git_daemon(hub.parent, port) as base:
        alice.remote_add("hub", f"{base}/hub.git")
        bob.remote_add("hub", f"{base}/hub.git")
        alice.push("hub")
        bob.pull("hub")
    bob.rate(bob.records()[0].codeHash, 3)
    before = state_of(bob)
    with pytest.raises(RemoteError, match=rf"'hub' at git://127.0.0.1:{port}/hub.git cannot be reached: "
                                          "connection refused"):
        bob.pull("hub")
    with pytest.raises(RemoteError, match="cannot be reached: connection refused"):
        bob.push("hub")
    bob.remote_add("web", f"http://127.0.0.1:{free_port()}/hub.git")
    with pytest.raises(RemoteError, match=r"'web' at http://127\.0\.0\.1:\d+/hub\.git cannot be reached"):
        bob.pull("web")
    bob.remote_add("gone", str(hub.parent / "gone.git"))
    with pytest.raises(RemoteError, match="does not exist"):
        bob.pull("gone")
    assert state_of(bob)[1:] == before[1:] and len(bob) == len(starter.STARTERS)
    assert bob.get(bob.records()[0].codeHash, allow_untrusted=True)


def test_audits_by_a_trusted_key_vouch_for_an_unknown_author(hub: Path, tmp_path: Path, machines) -> None:
    alice, bob = machines  # alice audits; bob trusts only alice
    with Registry(tmp_path / "mallory") as mallory:
        made = mallory.add("A unit converter", app(7), "m", ["ui:window"])
        mallory.remote_add("hub", str(hub))
        mallory.push("hub")
    for one in (alice, bob):
        one.remote_add("hub", str(hub))
    alice.pull("hub")
    alice.audit(made.codeHash, note="read every line")
    alice.push("hub")
    bob.trust_add("alice", alice.key.public_hex)
    bob.pull("hub")
    provenance = bob.provenance(made.codeHash)
    assert provenance.author.trusted is False and provenance.trusted is True
    [audit] = provenance.audits
    assert audit.signer.name == "alice" and audit.signer.trusted and audit.note == "read every line"
    assert bob.get(made.codeHash).audited is True and bob.lookup("a unit converter") is not None
    alice.audit(made.codeHash, False)  # withdrawn: the newer statement replaces the older
    alice.push("hub")
    assert bob.pull("hub").statements == 1
    assert not bob.is_trusted(made.codeHash) and bob.lookup("a unit converter") is None


def test_key_rotation_keeps_old_records_valid(hub: Path, tmp_path: Path, machines) -> None:
    alice, bob = machines
    old = alice.add("A stopwatch", app(1), "m", ["ui:window"])
    alice.remote_add("hub", str(hub))
    bob.remote_add("hub", str(hub))
    bob.trust_add("alice", alice.key.public_hex)
    rotation = alice.rotate_key()
    assert alice.key.public_hex == rotation.new != rotation.old == old.signedBy
    assert alice.get(old.codeHash).signedBy == rotation.old  # still valid here
    new = alice.add("A metronome", app(2), "m", ["ui:window"])
    assert new.signedBy == rotation.new
    alice.push("hub")
    bob.pull("hub")
    assert bob.is_trusted(old.codeHash) and bob.is_trusted(new.codeHash)
    assert {(t.name, t.key, t.rotated_from) for t in bob.trust_list()} == {
        ("alice", rotation.old, None), ("alice", rotation.new, rotation.old)}
    with Registry(tmp_path / "stranger") as stranger:  # trusts nobody: a rotation does not make trust
        stranger.remote_add("hub", str(hub))
        stranger.pull("hub")
        assert not stranger.is_trusted(new.codeHash)
    with Registry(alice.root) as reopened:  # the new key persists; the old one is retired, not lost
        assert reopened.key.public_hex == rotation.new and reopened.get(old.codeHash)


def test_removed_apps_stay_removed_and_new_ones_arrive_incrementally(hub: Path, machines) -> None:
    alice, bob = machines
    first = [alice.add(f"app {n}", app(n), "m", []).codeHash for n in range(3)]
    for one in (alice, bob):
        one.remote_add("hub", str(hub))
    alice.push("hub")
    bob.pull("hub")
    bob.rm(first[0])
    alice.add("app 3", app(3), "m", [])
    alice.rate(first[0], 5)  # touches the removed app: still not brought back
    alice.push("hub")
    pulled = bob.pull("hub")
    assert pulled.new_apps == (code_hash(app(3)),) and len(bob) == 3
    assert first[0] not in {r.codeHash for r in bob.records()}
    bob.add("app 0", app(0), "m", [])  # adding it again lifts the tombstone
    assert len(bob) == 4
    index_matches_git(bob)


def test_a_pull_killed_anywhere_lands_whole_or_not_at_all(hub: Path, tmp_path: Path) -> None:
    with Registry(tmp_path / "alice") as alice:
        alice.add_many([{"prompt": f"app number {n}", "generatedCode": app(n), "llmModel": "m",
                         "capabilities": ["ui:window"], "rating": n % 6} for n in range(1500)])
        alice.remote_add("hub", str(hub))
        alice.push("hub")
    child = ("import sys\nfrom pathlib import Path\nfrom llmos.kernel.registry import Registry\n"
             "with Registry(Path(sys.argv[1])) as r:\n"
             "    print('pulling', flush=True)\n    r.pull('hub')\n    print('done', flush=True)\n")
    rng = random.Random(7)
    started = time.monotonic()
    for round_ in range(5):
        state = tmp_path / f"bob{round_}"
        with Registry(state) as bob:
            bob.remote_add("hub", str(hub))
        proc = subprocess.Popen([sys.executable, "-c", child, str(state)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "pulling"
        if round_ == 0:  # the first round measures a whole pull, to spread the later kills across it
            assert proc.stdout.readline().strip() == "done"
            whole = time.monotonic() - started
        else:  # the moment of death, chosen at random inside a pull (not a wait for readiness)
            time.sleep(rng.uniform(0, whole))
            proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        proc.stdout.close()
        with Registry(state) as bob:
            assert len(bob) in (0, 1500)
            index_matches_git(bob)
            result = bob.pull("hub")  # finishes (or was already up to date), from where it was left
            assert len(bob) == 1500 and (result.up_to_date or len(result.new_apps) == 1500)
            index_matches_git(bob)
            fsck(bob)


def test_upgrade_from_format_1(tmp_path: Path) -> None:
    """A registry written before statements: rating and audited were signed inside the record."""
    from dataclasses import asdict

    from llmos.kernel.registry import keys
    from llmos.kernel.registry.history import History
    from llmos.kernel.registry.upgrade import legacy_canonical

    state = tmp_path / "old"
    key = keys.NodeKey.load_or_create(state / "keys")
    record = Record.new("A counter", app(1), "m", ["ui:window"], rating=5.0, audited=True,
                        signedBy=key.public_hex)
    record = record.with_changes(signature=key.sign(legacy_canonical(record)))
    history = History(state / "registry.git")
    body = json.dumps(asdict(record), sort_keys=True, indent=2).encode()
    history.commit({layout.app_path(record.codeHash): body}, "Add (format 1)")
    history.close()
    with Registry(state) as registry:
        upgraded = registry.get(record.codeHash)
        assert upgraded.rating == 5.0 and upgraded.audited is True and upgraded.prompt == "A counter"
        assert "Upgrade the registry to format 2" in registry.history_log(1)[0][1]
        assert statements.verifies(registry.index.audits(record.codeHash)[0])
