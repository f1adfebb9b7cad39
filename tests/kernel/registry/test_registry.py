"""The registry against real SQLite, a real dulwich repository read back with the real `git`, and real
Ed25519 keys."""

from __future__ import annotations

import itertools
import json
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from llmos.kernel import starter
from llmos.kernel.registry import BundleError, NotFound, Record, RecordError, Registry, code_hash

from .conftest import app


def git(state: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(state / "registry.git"), *args], check=True,
                          capture_output=True, text=True).stdout


def test_add_get_and_git_history(registry: Registry) -> None:
    record = registry.add("A counter", app(1), "model-a", ["ui:window"])
    assert record.codeHash == code_hash(app(1)) and record.codeHash.startswith("sha256:")
    assert registry.get(record.codeHash[7:19]) == record
    again = registry.add("Another prompt, same code", app(1), "model-b", ["ui:window"])
    assert again == record and len(registry) == 1  # stored once
    log = git(registry.root, "log", "--format=%s", "--name-only")
    assert f"apps/{record.codeHash[7:9]}/{record.codeHash[7:]}.json" in log
    assert log.count("Add ") == 1
    path = f"apps/{record.codeHash[7:9]}/{record.codeHash[7:]}.json"
    stored = json.loads(git(registry.root, "show", f"main:{path}"))
    assert stored["prompt"] == "A counter" and stored["signature"] == record.signature
    subprocess.run(["git", "--git-dir", str(registry.root / "registry.git"), "fsck", "--strict"], check=True,
                   capture_output=True)


def test_node_key_is_private(registry: Registry) -> None:
    key = registry.root / "keys" / "registry-ed25519.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700


def test_lookup_offers_similar_prompts_only(registry: Registry) -> None:
    starter.seed(registry)
    best = registry.lookup("I need a pomodoro timer with break reminders")
    assert best is not None and best.prompt == "A pomodoro timer with break reminders" and best.score > 0.9
    assert registry.lookup("todo list") is not None
    assert registry.lookup("show me the weather in Paris") is None
    ranked = registry.search("a timer", 3)
    assert ranked and all(a.score >= b.score for a, b in itertools.pairwise(ranked))
    assert registry.search("!!! ???") == []  # no words: no FTS syntax error


def test_tampered_code_or_signature_is_rejected(registry: Registry) -> None:
    record = registry.add("A counter", app(1), "m", ["ui:window"])
    db = sqlite3.connect(registry.root / "registry.db")
    db.execute("update apps set code = code || '// evil' where code_hash = ?", [record.codeHash])
    db.commit()
    with pytest.raises(RecordError, match="does not match its hash"):
        registry.get(record.codeHash)
    db.execute("update apps set code = ?, capabilities = '[\"network:*\"]' where code_hash = ?",
               [app(1), record.codeHash])
    db.commit()
    with pytest.raises(RecordError, match="bad signature"):
        registry.get(record.codeHash)


def test_fork_rate_audit_rm(registry: Registry) -> None:
    parent = registry.add("A counter", app(1), "m", ["ui:window"])
    with pytest.raises(RecordError, match="must change the code"):
        registry.fork(parent.codeHash, app(1), "m")
    child = registry.fork(parent.codeHash, app(2), "m2", prompt="A red counter")
    assert child.parent == parent.codeHash and child.prompt == "A red counter"
    assert registry.rate(child.codeHash, 4).rating == 4.0
    assert registry.audit(child.codeHash).audited is True
    with pytest.raises(ValueError):
        registry.rate(child.codeHash, 9)
    registry.rm(parent.codeHash)
    with pytest.raises(NotFound):
        registry.get(parent.codeHash)
    assert git(registry.root, "log", "--format=%s").splitlines()[0].startswith("Remove")
    tree = git(registry.root, "ls-tree", "-r", "--name-only", "main").split()
    gone = parent.codeHash[7:]
    assert f"apps/{gone[:2]}/{gone}.json" not in tree and f"removed/{gone[:2]}/{gone}" in tree  # a tombstone


def test_export_import_and_bad_bundle(tmp_path: Path, registry: Registry) -> None:
    starter.seed(registry)
    bundle = tmp_path / "apps.json"
    assert registry.export([], bundle) == len(starter.STARTERS)
    with Registry(tmp_path / "other") as other:
        imported = other.import_bundle(bundle)
        assert len(imported) == len(starter.STARTERS)
        record = other.get(imported[0])
        assert record.signedBy == other.key.public_hex and record.audited is False
        data = json.loads(bundle.read_text())
        data["records"][3]["prompt"] += " (changed)"
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(data))
        with Registry(tmp_path / "third") as third:
            with pytest.raises(BundleError, match=r"records\[3\].*bad signature"):
                third.import_bundle(bad)
            assert len(third) == 0 and third.history.head() is None  # nothing imported
            bad.write_text("{not json")
            with pytest.raises(BundleError, match="not a JSON bundle"):
                third.import_bundle(bad)


def test_index_is_rebuilt_from_git(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Registry(state) as registry:
        starter.seed(registry)
        registry.rate(registry.records()[0].codeHash, 5)
    for name in ("registry.db", "registry.db-wal", "registry.db-shm"):
        (state / name).unlink(missing_ok=True)
    with Registry(state) as reopened:
        assert len(reopened) == len(starter.STARTERS)
        assert any(r.rating == 5.0 for r in reopened.records())
        for record in reopened.records():
            reopened.verify(record)


def test_bad_records_are_refused() -> None:
    with pytest.raises(RecordError, match="unknown fields"):
        Record.from_json({"prompt": "x", "generatedCode": "", "codeHash": "", "llmModel": "m", "evil": 1})
    with pytest.raises(RecordError, match=r"capabilities: wrong type"):
        Record.from_json({"prompt": "x", "generatedCode": "", "codeHash": "", "llmModel": "m",
                          "capabilities": "ui:window"})


def test_empty_prompt_is_refused(registry: Registry) -> None:
    with pytest.raises(RecordError, match="empty"):
        registry.add("   ", app(1), "m", [])
