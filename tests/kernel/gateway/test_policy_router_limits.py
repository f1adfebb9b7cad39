"""Pure-logic parts of the gateway: routing, manifest policy, token buckets, budgets in SQLite."""

from __future__ import annotations

import sqlite3

import pytest

from llmos.kernel.analysis.usage import used_capabilities
from llmos.kernel.caps.manifest import Manifest, Request
from llmos.kernel.caps.policy import Policy, PolicyError
from llmos.kernel.gateway.errors import BudgetExhausted, RateLimited
from llmos.kernel.gateway.ledger import ANY_APP, AuditRow, Budget, Ledger
from llmos.kernel.gateway.ratelimit import RateLimiter
from llmos.kernel.gateway.router import Candidate, route

ALL = ["ui:window", "storage:local", "timer", "notify", "clipboard:read", "network:*", "bus:*"]


LOCAL = Candidate("local", "spec", embedded=True)
WITH_CLOUD = (LOCAL, Candidate("cloud", "code"))


def test_router_is_deterministic_and_respects_availability() -> None:
    assert route("a counter", 4, WITH_CLOUD).provider == "local"
    heavy = route("an email client that syncs with my imap server and shows a chart", 4, WITH_CLOUD)
    assert heavy.provider == "cloud" and any("email" in r for r in heavy.reasons)
    assert route("an email client that syncs with my imap server", 4, (LOCAL,)).provider == "local"
    assert route("a pomodoro timer", 4, WITH_CLOUD) == route("a pomodoro timer", 4, WITH_CLOUD)


def test_policy_keeps_only_used_and_allowed_scopes() -> None:
    code = ("import { ui, storage } from '@llm-os/sdk';\n"
            "const [a, b] = storage.useLocal('a', 0); ui.Text({}, 'x');")
    claimed = Manifest((Request("storage:local", optional=True), Request("network:evil.com"),
                        Request("clipboard:read")))
    manifest, notes = Policy(ALL).settle(claimed, used_capabilities(code))
    assert manifest.scopes == ["storage:local", "ui:window"]
    assert manifest.requests[0].optional is True  # the model may mark a used scope optional
    assert any("network:evil.com" in n for n in notes) and any("clipboard:read" in n for n in notes)


def test_policy_refuses_forbidden_and_unknowable_network() -> None:
    fetch = "import { net } from '@llm-os/sdk';\nnet.fetch('https://api.example.com/x');"
    with pytest.raises(PolicyError, match=r"network:api\.example\.com"):
        Policy(["ui:window"]).settle(None, used_capabilities(fetch))
    manifest, _ = Policy(ALL).settle(None, used_capabilities(fetch))
    assert manifest.scopes == ["network:api.example.com"]
    dynamic = "import { net } from '@llm-os/sdk';\nconst u = 'https://' + host; net.fetch(u);"
    with pytest.raises(PolicyError, match=r"2:.*literal"):
        Policy(ALL).settle(None, used_capabilities(dynamic))
    assert not Policy(ALL).permits("network:*") and not Policy(ALL).permits("network:*.evil.com")
    assert not Policy(ALL).permits("root:everything")


def test_token_bucket_refuses_then_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=2, clock=lambda: now[0])
    limiter.acquire("app")
    limiter.acquire("app")
    with pytest.raises(RateLimited) as caught:
        limiter.acquire("app")
    assert 0 < caught.value.retry_after <= 30
    limiter.acquire("other")  # one requester does not block another
    now[0] += 30.0
    limiter.acquire("app")


def test_budget_refusal_and_wal(isolated: object) -> None:
    ledger = Ledger()
    budget = Budget(daily_tokens=1000, app_tokens=300, daily_cost=1.0, app_cost=1.0)
    ledger.check("todo", budget)
    ledger.charge("todo", 300, 0.01)
    with pytest.raises(BudgetExhausted, match=r"'todo'.*300 of 300"):
        ledger.check("todo", budget)
    ledger.check("clock", budget)  # another app still has budget
    ledger.charge("clock", 700, 0.0)
    with pytest.raises(BudgetExhausted, match="today's token budget"):
        ledger.check("clock", budget)
    ledger.charge("x", 0, 5.0)
    assert ledger.spent(ANY_APP) == (1000, pytest.approx(5.01))
    assert ledger.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    ledger.audit(AuditRow("shell", "todo", "ab" * 32, "ok", "local", "m", 1, 2))
    other = sqlite3.connect(ledger.path)  # a second reader sees committed rows
    assert other.execute("SELECT outcome FROM audit").fetchall() == [("ok",)]
