"""Audit flooding: one app writing rows as fast as it can cannot evict another app's records, and
what it was not allowed to write is still counted, in 'suppressed' summary rows. Batching: on the
kernel's loop allows wait at most FLUSH_AFTER_S, denials never, and a failing disk fails calls."""

from __future__ import annotations

import asyncio
import re
import sqlite3

import pytest

from llmos.kernel.caps.audit import AuditLog

SUPPRESSED = re.compile(r"^(\d+) (allow|deny) records? suppressed")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_of_calls_does_not_evict_another_apps_denial(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite", max_rows=2000)
    try:
        log.record("victim", "app.launch", "allow", "ui:window")
        log.record("victim", "clipboard.read", "deny", "scope: not granted")
        for i in range(5000):  # storage.get in a loop, as fast as the kernel answers
            log.record("flooder", f"storage.get k{i}", "allow", "storage:local")
        victim = log.entries(app="victim")
        assert [(e.what, e.decision) for e in victim] == [("clipboard.read", "deny"), ("app.launch", "allow")]
    finally:
        log.close()


def test_a_two_minute_flood_is_summarised_and_stays_within_the_apps_quota(tmp_path):
    clock = FakeClock()
    log = AuditLog(tmp_path / "audit.sqlite", max_rows=100_000, per_app_rows=5000, clock=clock)
    try:
        log.record("victim", "bus.publish chat", "deny", "scope: not granted")
        attempts = {"allow": 0, "deny": 0}
        for step in range(120 * 740):  # 740 rows a second for two minutes
            clock.now += 1 / 740
            decision = "deny" if step % 10 == 0 else "allow"
            attempts[decision] += 1
            log.record("flooder", f"storage.get k{step}", decision, "x")
        log.flush_suppressed()
        log.prune()  # it runs every PRUNE_EVERY inserts; the quota holds at each run
        rows = log.entries(app="flooder", limit=1_000_000)
        assert len(rows) == 5000
        # Over its quota, the app's own allows went first: what is left are its denials, the newest
        # of them, each attempt written or counted in a summary row.
        assert {e.decision for e in rows} == {"deny"}
        written = sum(1 for e in rows if not SUPPRESSED.match(e.reason))
        summarised = sum(int(m.group(1)) for e in rows if (m := SUPPRESSED.match(e.reason)))
        assert written > 0 and summarised > 0
        assert written + summarised <= attempts["deny"]
        assert rows[0].what == "audit.suppressed" and rows[-1].what != "storage.get k0"
        assert log.entries(app="victim")[0].what == "bus.publish chat"
    finally:
        log.close()


def test_denials_are_pruned_only_after_every_allow(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite", max_rows=50)
    try:
        for i in range(10):
            log.record(f"app{i}", "clipboard.read", "deny", "scope")
        for i in range(AuditLog.PRUNE_EVERY):
            log.record(f"app{i % 7}", f"call {i}", "allow")
        log.prune()
        kept = log.entries(limit=10_000)
        assert len(kept) == 50
        assert sum(1 for e in kept if e.decision == "deny") == 10
    finally:
        log.close()


def test_suppressed_counts_show_up_when_the_log_is_read(tmp_path):
    clock = FakeClock()
    log = AuditLog(tmp_path / "audit.sqlite", clock=clock)
    try:
        for i in range(5000):
            log.record("burst", f"storage.get {i}", "allow", "storage:local")
        newest = log.entries(app="burst", limit=1)[0]
        match = SUPPRESSED.match(newest.reason)
        assert match and newest.what == "audit.suppressed", newest
        written = len(log.entries(app="burst", limit=10_000)) - 1
        assert written + int(match.group(1)) == 5000
    finally:
        log.close()


def committed(path) -> list[tuple[str, str, str]]:
    """What is on disk, read through a connection of its own (entries() would flush first)."""
    reader = sqlite3.connect(path)
    try:
        return reader.execute("SELECT app, what, decision FROM audit ORDER BY id").fetchall()
    finally:
        reader.close()


def test_without_an_event_loop_every_row_is_committed_at_once(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite")
    try:
        log.record("notes", "storage.get a", "allow", "storage:local")
        assert committed(log.path) == [("notes", "storage.get a", "allow")]
    finally:
        log.close()


def test_on_the_kernels_loop_allows_are_batched_and_a_denial_is_committed_at_once_after_them(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite")

    async def scenario() -> None:
        log.record("notes", "storage.get a", "allow", "storage:local")
        log.record("notes", "storage.get b", "allow", "storage:local")
        assert committed(log.path) == []  # waiting in memory, at most FLUSH_AFTER_S
        log.record("notes", "clipboard.read", "deny", "scope: not granted")
        assert committed(log.path) == [("notes", "storage.get a", "allow"),
                                       ("notes", "storage.get b", "allow"),
                                       ("notes", "clipboard.read", "deny")]
    try:
        asyncio.run(scenario())
    finally:
        log.close()


def test_batched_allows_are_committed_by_the_loops_timer_with_no_further_call(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite")
    flushed = asyncio.Event()
    original = log.flush

    def flush() -> None:
        original()
        flushed.set()
    log.flush = flush  # type: ignore[method-assign]

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        log.record("notes", "storage.get a", "allow", "storage:local")
        timer = log._timer
        assert timer is not None and timer.when() - loop.time() <= AuditLog.FLUSH_AFTER_S
        await asyncio.wait_for(flushed.wait(), 5)
        assert committed(log.path) == [("notes", "storage.get a", "allow")]
    try:
        asyncio.run(scenario())
    finally:
        log.close()


def test_a_full_batch_and_reading_or_closing_the_log_commit_what_waits(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite")

    async def scenario() -> None:
        for i in range(AuditLog.BATCH_ROWS):
            log.record("notes", f"storage.get {i}", "allow", "storage:local")
        assert len(committed(log.path)) == AuditLog.BATCH_ROWS
        log.record("notes", "storage.get last", "allow", "storage:local")
        assert log.entries(app="notes", limit=1)[0].what == "storage.get last"
        log.record("notes", "storage.get after", "allow", "storage:local")
    asyncio.run(scenario())
    log.close()
    assert committed(log.path)[-1] == ("notes", "storage.get after", "allow")


class FailingConnection:
    """A database that refuses writes (a full disk), then recovers."""

    def __init__(self, real: sqlite3.Connection) -> None:
        self.real, self.failing = real, True

    def execute(self, sql: str, *args: object) -> object:
        if self.failing and sql != "ROLLBACK":
            raise sqlite3.OperationalError("database or disk is full")
        return self.real.execute(sql, *args)

    def executemany(self, sql: str, rows: object) -> object:
        return self.real.executemany(sql, rows)

    def close(self) -> None:
        self.real.close()


def test_an_unwritable_log_fails_the_next_call_and_loses_no_row(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite")
    disk = FailingConnection(log._db)  # type: ignore[arg-type]
    log._db = disk  # type: ignore[assignment]

    async def scenario() -> None:
        log.record("notes", "storage.get a", "allow", "storage:local")  # queued
        log.flush()  # the timer's flush fails and logs; the row stays queued
        with pytest.raises(sqlite3.OperationalError):  # and the next call fails, closed
            log.record("notes", "storage.get b", "allow", "storage:local")
        disk.failing = False
        log.record("notes", "storage.get c", "allow", "storage:local")
    try:
        asyncio.run(scenario())
        whats = [what for _, what, _ in committed(log.path)]
        assert whats == ["storage.get a", "storage.get b", "storage.get c"]
    finally:
        log.close()
