"""Upgrade a registry written before format 2 (no registry.json). Format 1 signed the rating and
audited fields inside each record; format 2 signs only the publication and keeps those as separate
statements (statements.py). Records this node signed are re-signed, and their rating and audit
become this node's own statements, in one commit. Anything else is left for get() to judge."""

from __future__ import annotations

import json
from dataclasses import asdict

from . import keys, layout, statements
from .history import History
from .record import Record, RecordError


def legacy_canonical(record: Record) -> bytes:
    body = asdict(record)
    body.pop("signature")
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def upgrade(history: History, key: keys.NodeKey) -> bool:
    """Caller holds the registry lock. Returns whether a commit was made."""
    head = history.head()
    if head is None or layout.MARKER in history.root(head):
        return False
    changes: dict[bytes, bytes | None] = {layout.MARKER: layout.marker()}
    for digest, blob in history.entries(head).items():
        try:
            record = Record.from_json(json.loads(history.read(blob)), digest)
        except (RecordError, ValueError):
            continue
        if record.signedBy != key.public_hex or not keys.verify(key.public_hex, record.signature,
                                                                legacy_canonical(record)):
            continue
        resigned = record.with_changes(signature=key.sign(record.canonical()))
        changes[layout.app_path(digest)] = resigned.dumps()
        at = statements.now()
        said: list[statements.Statement] = []
        if record.rating is not None:
            said.append(statements.Rating(app=digest, stars=float(record.rating), by=key.public_hex, at=at))
        if record.audited:
            said.append(statements.Audit(app=digest, audited=True, note="", by=key.public_hex, at=at))
        for statement in said:
            signed = statements.sign(statement, key)
            changes[layout.statement_path(signed)] = statements.dumps(signed)
    history.commit(changes, f"Upgrade the registry to format {layout.VERSION}")
    return True
