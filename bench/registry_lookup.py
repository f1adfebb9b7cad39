"""Registry lookup time with 10,000 apps: FTS5 candidates + similarity re-scoring, per lookup.
Also the cost of one more add (sign + git commit + SQLite transaction) at that size."""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from llmos.kernel.registry import Registry

_VOCABULARY = """timer todo notes counter weather clock calendar budget recipe music chat converter dice
stopwatch checklist habit tracker journal quiz flashcard drawing paint map compass alarm pomodoro shopping
list expense calculator currency temperature reminder break water workout score game chess"""
WORDS = _VOCABULARY.split()


def main(count: int = 10_000) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp, Registry(Path(tmp)) as registry:
        items = []
        for n in range(count):
            prompt = "A " + " ".join(rng.sample(WORDS, 5)) + f" app number {n}"
            code = f"import {{ ui }} from '@llm-os/sdk';\nconst n = {n};\n"
            items.append({"prompt": prompt, "generatedCode": code, "llmModel": "bench",
                          "capabilities": ["ui:window"]})
        started = time.perf_counter()
        registry.add_many(items, message="bench fill")
        fill = time.perf_counter() - started
        queries = ["I need a pomodoro timer with break reminders", "todo list", "weather in paris",
                   "a habit tracker with a journal", "chess game", "shopping list and budget calculator"]
        runs = []
        for _ in range(5):
            for query in queries:
                started = time.perf_counter()
                registry.lookup(query)
                runs.append(time.perf_counter() - started)
        adds = []
        for n in range(5):
            started = time.perf_counter()
            registry.add(f"extra app {n}", f"const extra = {n};\n", "bench", ["ui:window"])
            adds.append(time.perf_counter() - started)
        started = time.perf_counter()
        Registry(Path(tmp)).close()
        reopen = time.perf_counter() - started
        print(f"registry: {len(registry)} apps, fill {fill:.1f} s (one commit)")
        print(f"lookup: median {statistics.median(runs) * 1000:.2f} ms, max {max(runs) * 1000:.2f} ms "
              f"over {len(runs)} lookups")
        print(f"add at {count}: median {statistics.median(adds) * 1000:.1f} ms; "
              f"reopen {reopen * 1000:.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
