"""The kernel API's wire types: each reads back exactly what it writes, and a reader fills in what an
older or newer peer left out instead of failing."""

from __future__ import annotations

import json

from llmos.api import Ask, Launched, Offer, RunningApp


def test_each_record_reads_back_what_it_writes() -> None:
    records = [Ask("notify", "Show you notifications", False),
               Offer("sha256:" + "ab" * 32, "a kitchen timer", 0.8, "llmos-starter", "Kitchen Timer"),
               Launched("app-1", "Kitchen Timer", 4242),
               RunningApp("app-1", "sha256:ab", "Kitchen Timer", 4242, "running", ("ui:window",), 1.5)]
    for record in records:
        assert type(record).from_json(json.loads(json.dumps(record.to_json()))) == record


def test_the_running_row_is_the_documented_one() -> None:
    row = RunningApp("app-1", granted=("ui:window",)).to_json()
    assert list(row) == ["app_id", "hash", "title", "pid", "state", "granted", "uptime_s"]
    assert row["granted"] == ["ui:window"]  # a JSON list, in process as on the wire


def test_a_reader_fills_in_what_a_peer_left_out() -> None:
    assert RunningApp.from_json({"app_id": "app-1", "title": None}) == RunningApp("app-1")
    assert Ask.from_json({"scope": "notify"}) == Ask("notify", "notify", False)
    assert Launched.from_json({"app_id": "app-1"}) == Launched("app-1", "", 0)
