"""Registry lookup time at 100,000 apps (issue 13: at most 5 ms per lookup), with the apps and prompts of
bench/registry_sync.py's search. Each round times every prompt's lookup() twice, interleaved: as search
runs (candidates from the index's posting bitmaps) and with FTS5 MATCH finding them instead (how search
ran before the bitmaps; it finds the same rows). Then the cost of one more add (sign + git commit +
SQLite transaction) at that size.

    .venv/bin/python bench/registry_lookup.py [--apps 100000] [--rounds 10] [--keep DIR]

Filling 100,000 apps takes a minute or two: --keep DIR fills DIR/<apps>-schema<N> once and reuses it
(the adds are timed on a copy).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from registry_sync import QUERIES, apps, fill  # the same apps and prompts as its search figure

from llmos.kernel.registry import Registry
from llmos.kernel.registry.index import SCHEMA, Index, SearchHit
from llmos.kernel.registry.similarity import tier_query


def filled(count: int, keep: Path | None, tmp: Path) -> Path:
    root = (keep or tmp) / f"{count}-schema{SCHEMA}"
    if not (root / "registry.db").exists():
        partial = root.with_name(root.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        with Registry(partial) as registry:
            made = fill(registry, apps(0, count, random.Random(11)))
        print(f"filled {count} apps in {made:.0f} s")
        partial.rename(root)
    return root


@contextmanager
def fts5_candidates() -> Iterator[None]:
    """Index.holding() as it was: one FTS5 MATCH of "at least m of these words"."""
    bitmaps = Index.holding

    def holding(self: Index, words: list[str], at_least: int, limit: int) -> list[SearchHit]:
        return self.candidates(tier_query(words, at_least) or "", limit)

    Index.holding = holding  # type: ignore[method-assign]
    try:
        yield
    finally:
        Index.holding = bitmaps  # type: ignore[method-assign]


def timed(call: Callable[..., object], *args: object) -> tuple[float, float]:
    """(seconds of wall time, seconds of this thread's CPU time): on a shared, loaded machine the
    wall time's tail is mostly waiting for a core, which the CPU time leaves out."""
    wall, cpu = time.perf_counter(), time.thread_time()
    call(*args)
    return time.perf_counter() - wall, time.thread_time() - cpu


def summary(runs: list[float]) -> str:
    runs = sorted(runs)
    median, p95, most = statistics.median(runs), runs[int(len(runs) * 0.95)], runs[-1]
    return f"median {median * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms, max {most * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="fill here once and reuse")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = filled(args.apps, args.keep, Path(tmp))
        started = time.perf_counter()
        with Registry(root) as registry:
            opened = time.perf_counter() - started
            print(f"registry: {len(registry)} apps, opened in {opened * 1000:.0f} ms")
            for query in QUERIES:  # warms the page cache for both, and checks they agree
                found = registry.lookup(query)
                with fts5_candidates():
                    assert registry.lookup(query) == found, query
            load = os.getloadavg()[0]
            bitmaps: dict[str, list[tuple[float, float]]] = {query: [] for query in QUERIES}
            fts: dict[str, list[tuple[float, float]]] = {query: [] for query in QUERIES}
            for round_ in range(args.rounds):
                for query in QUERIES:
                    # Alternately first: the second lookup of a prompt finds its rows in SQLite's cache.
                    if round_ % 2 == 0:
                        bitmaps[query].append(timed(registry.lookup, query))
                    with fts5_candidates():
                        fts[query].append(timed(registry.lookup, query))
                    if round_ % 2 == 1:
                        bitmaps[query].append(timed(registry.lookup, query))
        print(f"lookup, {args.rounds} rounds of {len(QUERIES)} prompts (load average {load:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after):")
        for name, timings in (("posting bitmaps", bitmaps), ("FTS5 MATCH", fts)):
            for kind, at in (("wall", 0), ("CPU", 1)):
                label = f"{name}, {kind}:"
                print(f"  {label:22} {summary([t[at] for runs in timings.values() for t in runs])}")
        for query in QUERIES:
            print(f"  {query!r:47} bitmaps {statistics.median(t[0] for t in bitmaps[query]) * 1000:5.2f} ms, "
                  f"FTS5 {statistics.median(t[0] for t in fts[query]) * 1000:5.2f} ms (median wall)")
        copy = Path(tmp) / "adds"
        shutil.copytree(root, copy)
        with Registry(copy) as registry:
            adds = [timed(registry.add, f"extra app {n}", f"const extra = {n};\n", "bench", ["ui:window"])[0]
                    for n in range(5)]
        print(f"add at {args.apps}: median {statistics.median(adds) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
