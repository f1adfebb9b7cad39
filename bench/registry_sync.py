"""Registry sync over a real `git daemon` on 127.0.0.1: a pull of N apps (default 10,000) into an empty
registry, then incremental pulls of 100 and 1,000 new apps, in seconds and MB (the pack received and
the registry's growth on disk), with the incremental/full ratios measured in the same run; then lookup
latency in a registry of 100,000 apps.

    .venv/bin/python bench/registry_sync.py [--apps 10000] [--search-apps 100000] [--transport git|http|path]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from llmos.kernel.registry import Registry

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from kernel.registry.gitserver import bare, git_daemon, git_http  # noqa: E402 - the tests' real git servers

_VOCABULARY = """timer todo notes counter weather clock calendar budget recipe music chat converter dice
stopwatch checklist habit tracker journal quiz flashcard drawing paint map compass alarm pomodoro shopping
list expense calculator currency temperature reminder break water workout score game chess garden plant
invoice letter poem story translate sketch piano guitar metronome tuner recorder camera photo album"""
WORDS = _VOCABULARY.split()
QUERIES = ["I need a pomodoro timer with break reminders", "todo list", "weather in paris",
           "a habit tracker with a journal", "chess game", "shopping list and budget calculator",
           "a metronome for piano practice", "photo album with a map"]


def apps(start: int, count: int, rng: random.Random) -> list[dict[str, object]]:
    """Apps shaped like real ones: a five-word prompt, a few hundred bytes of code, a rating on 1 in 10."""
    items: list[dict[str, object]] = []
    for n in range(start, start + count):
        words = rng.sample(WORDS, 5)
        code = ("import { ui } from '@llm-os/sdk';\n"
                f"export default function App() {{\n  const [n, setN] = ui.useState({n});\n"
                f"  return ui.Window({{ title: '{' '.join(words[:2])} {n}' }}, [\n"
                "    ui.Button({ label: 'more', onClick: () => setN(n + 1) }),\n"
                "    ui.Text({ text: String(n) }),\n  ]);\n}\n")
        items.append({"prompt": "A " + " ".join(words) + f" app number {n}", "generatedCode": code,
                      "llmModel": "bench", "capabilities": ["ui:window"],
                      "rating": (n % 5) + 1 if n % 10 == 0 else None})
    return items


def fill(registry: Registry, items: list[dict[str, object]], batch: int = 10_000) -> float:
    started = time.perf_counter()
    for at in range(0, len(items), batch):
        registry.add_many(items[at:at + batch], message=f"bench fill {at}")
    return time.perf_counter() - started


def disk_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


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


def timed_pull(registry: Registry) -> tuple[float, float, float, int]:
    """(seconds, MB received, MB the registry grew on disk, new apps)."""
    before = disk_mb(registry.root)
    started = time.perf_counter()
    result = registry.pull("hub")
    took = time.perf_counter() - started
    return took, result.fetched_bytes / 1e6, disk_mb(registry.root) - before, len(result.new_apps)


Row = tuple[int, str, int, int, tuple[float, float, float, int]]  # run size, kind, apps, into, timings


def sync(count: int, kind: str, tmp: Path) -> list[Row]:
    """A full pull of `count` apps into an empty registry, then incremental pulls of 100 and 1,000."""
    rng = random.Random(7)
    hub = bare(tmp / "srv" / "hub.git")
    with Registry(tmp / "publisher") as publisher, Registry(tmp / "subscriber") as subscriber, \
            served(kind, hub) as url:
        made = fill(publisher, apps(0, count, rng))
        publisher.remote_add("hub", url)
        subscriber.remote_add("hub", url)
        started = time.perf_counter()
        publisher.push("hub")
        pushed = time.perf_counter() - started
        print(f"publisher: {count} apps made in {made:.1f} s, pushed over {kind} in {pushed:.1f} s")
        rows: list[Row] = [(count, "full", count, 0, timed_pull(subscriber))]
        for extra in (100, 1000):
            base = len(subscriber)
            publisher.add_many(apps(count + extra * 10, extra, rng), message=f"{extra} more")
            publisher.push("hub")
            rows.append((count, "incremental", extra, base, timed_pull(subscriber)))
        assert len(subscriber) == count + 1100, len(subscriber)
        up = time.perf_counter()
        assert subscriber.pull("hub").up_to_date
        print(f"an up-to-date pull of {len(subscriber)} apps: {(time.perf_counter() - up) * 1000:.0f} ms")
    return rows


def report(rows: list[Row]) -> None:
    """Each incremental pull against the full pull of the same run: time ratio beside apps ratio."""
    full = {run: timings[0] for run, kind, _, _, timings in rows if kind == "full"}
    print(f"{'pull':<12} {'into':>6} {'apps':>6} {'seconds':>8} {'MB recv':>8} {'MB disk':>8} {'ms/app':>7} "
          f"{'time/full':>9} {'apps/full':>9}")
    for run, kind, new, base, (took, received, grew, arrived) in rows:
        assert arrived == new, (kind, arrived, new)
        print(f"{kind:<12} {base:>6} {new:>6} {took:>8.2f} {received:>8.2f} {grew:>8.2f} "
              f"{took / new * 1000:>7.2f} {took / full[run]:>9.4f} {new / run:>9.4f}")


def search(count: int, tmp: Path) -> None:
    rng = random.Random(11)
    with Registry(tmp / "search") as registry:
        made = fill(registry, apps(0, count, rng))
        runs = []
        for _ in range(10):
            for query in QUERIES:
                started = time.perf_counter()
                registry.lookup(query)
                runs.append(time.perf_counter() - started)
        runs.sort()
        print(f"search: {len(registry)} apps (filled in {made:.0f} s); lookup median "
              f"{statistics.median(runs) * 1000:.2f} ms, p95 {runs[int(len(runs) * 0.95)] * 1000:.2f} ms, "
              f"max {runs[-1] * 1000:.2f} ms over {len(runs)} lookups")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=10_000)
    parser.add_argument("--search-apps", type=int, default=100_000)
    parser.add_argument("--transport", choices=["git", "http", "path"], default="git")
    args = parser.parse_args()
    rows: list[Row] = []
    for count in (args.apps // 10, args.apps):  # the same increments into a registry 10x smaller
        with tempfile.TemporaryDirectory() as tmp:
            rows += sync(count, args.transport, Path(tmp))
    report(rows)
    with tempfile.TemporaryDirectory() as tmp:
        search(args.search_apps, Path(tmp))


if __name__ == "__main__":
    main()
