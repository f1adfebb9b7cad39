"""Calls between saved apps in the real kernel service, with a real compositor (harness.py): the trip log
starter calls the unit converter starter as it loads. A converter the user never approved is not started
for a call; once approved (run once, then stopped) it is started headless, with the grants the user gave
it: it serves the call and shows no window."""

from __future__ import annotations

from typing import Any

import pytest

from llmos.kernel.starter import provided_by
from llmos.kernel.versions.lineage import identity_for

from .harness import System, make_system, remove, wait_for

pytestmark = pytest.mark.timeout(180)


def audit(system: System, app: str) -> list[dict[str, Any]]:
    return list(system.call("caps.audit", app=app, limit=500))


def test_a_called_app_starts_headless_with_the_grants_the_user_approved(wasm_cache) -> None:
    system = make_system("[sandbox]\nheadless_idle_s = 10", wasm_cache=wasm_cache)
    try:
        system.start_compositor()
        system.start_kernel()
        listed = {app["title"]: app for app in system.call("apps.list")}
        trip, converter = listed["Trip Log"], listed["Unit Converter"]
        target = provided_by("converter", "convert").removeprefix("app:")
        assert f"app:{target}" in trip["capabilities"] and identity_for(converter["hash"]) in target
        caller = identity_for(trip["hash"])

        def seen(what: str, reason: str) -> bool:
            rows = audit(system, caller)
            return any(row["what"] == what and row["reason"].startswith(reason) for row in rows)

        first = system.call("apps.run", ref=trip["hash"], granted=trip["capabilities"])
        wait_for(lambda: seen(f"app.call {target}", "no-such-app"), 30, "the call to be refused")
        refusal = next(row["reason"] for row in audit(system, caller) if row["decision"] == "deny")
        assert "was never approved: run it once first" in refusal
        assert [app["title"] for app in system.call("apps.running")] == ["Trip Log"]
        system.call("apps.stop", app_id=first["app_id"])

        # The user runs the converter once (approving it), and stops it.
        approved = system.call("apps.run", ref=converter["hash"], granted=["ui:window"])
        system.call("apps.stop", app_id=approved["app_id"])
        system.call("apps.run", ref=trip["hash"])
        wait_for(lambda: seen(f"app.answer {target}", "ok in "), 60, "the converter to start and answer")
        running = {app["title"]: app for app in system.call("apps.running")}
        assert set(running) == {"Trip Log", "Unit Converter"}
        assert running["Unit Converter"]["granted"] == ["ui:window"]
        served = [row for row in audit(system, identity_for(converter["hash"]))
                  if row["what"] == "app.serve convert"]
        assert served and f"from {caller}" in served[0]["reason"]
        wait_for(lambda: "Trip Log" in [w["title"] for w in system.windows()], 30, "the trip log's window")
        assert "Unit Converter" not in [w["title"] for w in system.windows()]  # headless: no window
        # Served and then idle for [sandbox] headless_idle_s: stopped; the caller runs on.
        wait_for(lambda: [app["title"] for app in system.call("apps.running")] == ["Trip Log"], 60,
                 "the idle converter to stop")
        assert system.stop_kernel() == 0
    finally:
        remove(system)
