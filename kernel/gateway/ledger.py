"""Budgets and the audit log, in one SQLite database in WAL mode (state_dir()/gateway/gateway.db).

WAL because the shell, the CLI and the kernel may read while the gateway writes, and a write cut by
power loss must leave the database consistent. The audit stores digests of prompt and output, never
the text itself: the registry keeps the prompt where the user wants it kept.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from llmos import paths
from llmos.kernel.gateway.errors import BudgetExhausted

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    day TEXT NOT NULL, app TEXT NOT NULL, tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0, PRIMARY KEY (day, app));
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, requester TEXT NOT NULL, app TEXT NOT NULL,
    provider TEXT, model TEXT, prompt_tokens INTEGER, output_tokens INTEGER, cost_usd REAL,
    prompt_sha256 TEXT NOT NULL, output_sha256 TEXT, duration_ms INTEGER, outcome TEXT NOT NULL,
    detail TEXT);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
"""

ANY_APP = "*"  # the usage row that totals all apps of a day


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_path() -> Path:
    return paths.state_dir() / "gateway" / "gateway.db"


def today(now: float | None = None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now if now is not None else time.time()))


@dataclass
class Budget:
    daily_tokens: int
    app_tokens: int
    daily_cost: float
    app_cost: float


@dataclass
class AuditRow:
    requester: str
    app: str
    prompt_sha256: str
    outcome: str
    provider: str | None = None
    model: str | None = None
    prompt_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    output_sha256: str | None = None
    duration_ms: int = 0
    detail: str = ""


class Ledger:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def spent(self, app: str, day: str | None = None) -> tuple[int, float]:
        row = self.db.execute("SELECT tokens, cost_usd FROM usage WHERE day=? AND app=?",
                              (day or today(), app)).fetchone()
        return (row[0], row[1]) if row else (0, 0.0)

    def check(self, app: str, budget: Budget) -> None:
        """Refuse before generating when today's budget (overall or this app's) is used up."""
        day = today()
        tokens, cost = self.spent(ANY_APP, day)
        if tokens >= budget.daily_tokens:
            raise BudgetExhausted(f"today's token budget is used up ({tokens} of {budget.daily_tokens} "
                                  "tokens); it resets at midnight UTC")
        if cost >= budget.daily_cost:
            raise BudgetExhausted(f"today's cost budget is used up (${cost:.2f} of ${budget.daily_cost:.2f})")
        if app != ANY_APP:
            tokens, cost = self.spent(app, day)
            if tokens >= budget.app_tokens:
                raise BudgetExhausted(f"app {app!r} used its token budget for today ({tokens} of "
                                      f"{budget.app_tokens} tokens)")
            if cost >= budget.app_cost:
                raise BudgetExhausted(f"app {app!r} used its cost budget for today (${cost:.2f} of "
                                      f"${budget.app_cost:.2f})")

    def charge(self, app: str, tokens: int, cost: float) -> None:
        day = today()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for who in {ANY_APP, app}:
                self.db.execute(
                    "INSERT INTO usage(day, app, tokens, cost_usd) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(day, app) DO UPDATE SET tokens=tokens+excluded.tokens, "
                    "cost_usd=cost_usd+excluded.cost_usd", (day, who, tokens, cost))

    def audit(self, row: AuditRow) -> None:
        self.db.execute(
            "INSERT INTO audit(at, requester, app, provider, model, prompt_tokens, output_tokens, cost_usd, "
            "prompt_sha256, output_sha256, duration_ms, outcome, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), row.requester, row.app, row.provider, row.model, row.prompt_tokens,
             row.output_tokens, row.cost_usd, row.prompt_sha256, row.output_sha256, row.duration_ms,
             row.outcome, row.detail[:500]))

    def audit_rows(self, limit: int = 50) -> list[dict[str, object]]:
        cursor = self.db.execute("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
