"""The index's posting bitmaps against real SQLite FTS5: search reads them instead of a MATCH, so they
must find exactly the rows, in the order, a MATCH finds, through every kind of change to the index."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from llmos.kernel.registry import Registry, code_hash, index
from llmos.kernel.registry.index import Changes, Index
from llmos.kernel.registry.record import Record
from llmos.kernel.registry.similarity import tier_query

from .conftest import app

# Words porter stems together (timer/timers, calculate/calculating), digits, a diacritic, and one
# FTS5 reads as two tokens (x-ray: search then asks FTS5 itself).
WORDS = ["timer", "timers", "timing", "calculator", "calculate", "calculating", "café", "cafe", "list",
         "lists", "2048", "x2", "go", "going", "x-ray"]


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "BLOCK", 16)  # a few hundred apps then span many blocks


def record(prompt: str, n: int) -> Record:
    code = f"const n = {n};\n"
    return Record(prompt=prompt, generatedCode=code, codeHash=code_hash(code), llmModel="m")


def prompts(rng: random.Random, count: int) -> list[str]:
    return [" ".join(rng.choices([*WORDS, "note", "app"], k=rng.randint(1, 6))) for _ in range(count)]


def changes(items: dict[int, str]) -> Changes:
    made = Changes()
    for n, prompt in items.items():
        made.apps[code_hash(f"const n = {n};\n")] = (record(prompt, n), "blob", "local")
    return made


def assert_agree(ix: Index, rng: random.Random, rounds: int = 60) -> None:
    for _ in range(rounds):
        words = sorted(set(rng.sample(WORDS, rng.randint(1, 6))))
        for at_least in range(1, len(words) + 1):
            for limit in (3, 200):
                wanted = ix.candidates(tier_query(words, at_least) or "", limit)
                assert ix.holding(words, at_least, limit) == wanted, (words, at_least, limit)
    assert ix.holding(["timer"], 2, 10) == [] and ix.holding(["timer"], 1, 0) == []


def test_postings_find_what_fts5_matches(tmp_path: Path) -> None:
    rng = random.Random(13)
    ix = Index(tmp_path / "index.db")
    ix.apply(changes(dict(enumerate(prompts(rng, 400)))), "one")
    found = ix.holding(["calculating", "timers"], 2, 200)  # stems: calculator, timing and the like count
    assert found and all("calcul" in hit.prompt and "tim" in hit.prompt for hit in found)
    assert_agree(ix, rng)
    ix.close()


def test_postings_follow_every_change(tmp_path: Path) -> None:
    rng = random.Random(14)
    ix = Index(tmp_path / "index.db")
    ix.apply(changes(dict(enumerate(prompts(rng, 300)))), "one")
    gone = Changes(deleted_apps=[code_hash(f"const n = {n};\n") for n in range(0, 300, 3)])
    ix.apply(gone, "two")
    assert_agree(ix, rng)
    reworded = changes(dict(zip(range(1, 300, 3), prompts(rng, 100), strict=True)))  # same apps, new prompts
    ix.apply(reworded, "three")
    ix.apply(changes(dict(enumerate(prompts(rng, 200), start=1000))), "four")  # new rowids
    ix.apply(changes({2: "timer timer list"}), "five")  # again, unchanged
    assert_agree(ix, rng)
    ix.close()
    reopened = Index(tmp_path / "index.db")
    assert_agree(reopened, rng)
    reopened.apply(changes(dict(enumerate(prompts(rng, 150), start=5000))), "six", reset=True)
    assert reopened.count() == 150
    assert_agree(reopened, rng)
    reopened.close()


def test_an_index_without_postings_is_rebuilt_from_git(tmp_path: Path) -> None:
    with Registry(tmp_path / "state") as registry:
        registry.add("A pomodoro timer with break reminders", app(1), "m", ["ui:window"])
    db = sqlite3.connect(tmp_path / "state" / "registry.db")
    with db:
        db.execute("update meta set value = '3' where key = 'schema'")  # the schema before postings
        db.execute("drop table postings")
    db.close()
    with Registry(tmp_path / "state") as registry:
        best = registry.lookup("I need a pomodoro timer with break reminders")
        assert best is not None and best.prompt == "A pomodoro timer with break reminders"
