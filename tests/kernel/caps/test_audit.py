"""Audit flooding: one app writing rows as fast as it can cannot evict another app's records, and
what it was not allowed to write is still counted, in 'suppressed' summary rows."""

from __future__ import annotations

import re

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
