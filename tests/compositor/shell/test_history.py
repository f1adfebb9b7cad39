"""The versions panel against the real kernel: a saved app with two versions is listed with its
models, and going back to the first is instant (no model), switches the app's data to that version's
view, and shows as the version in use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmos.kernel.registry import Registry
from llmos.kernel.sandbox.storage import AppStorage
from llmos.kernel.versions import Versions
from llmos.kernel.versions.mapping import Mapping

from .harness import KEY_DOWN, KEY_ENTER, KEY_ESC, KEY_UP, Desktop, wait_for

pytestmark = pytest.mark.timeout(180)

FIRST = """import { ui, storage } from '@llm-os/sdk';
export default function App() {
  const [city, setCity] = storage.useLocal('city', 'Paris');
  return ui.Window({ title: 'Weather Notes' }, [ui.TextInput({ value: city, onChange: setCity })]);
}
"""
SECOND = FIRST.replace("storage.useLocal('city', 'Paris')", "storage.useLocal('place', 'Paris')")


def two_versions(state: Path) -> tuple[str, str]:
    """An app saved at version 1 (model-a, data city=Lyon) and regenerated to version 2 (model-b,
    the key renamed by a mapping), version 2 in use."""
    storage = AppStorage(state / "apps")
    with Registry(state) as registry, Versions(registry, storage) as versions:
        first = registry.add("weather notes for my city", FIRST, "model-a", ["storage:local", "ui:window"])
        identity = versions.check(first.codeHash)
        versions.switch(identity, first.codeHash, "launched")
        storage.set(identity, "city", json.dumps("Lyon"))
        second = registry.add("weather notes for my city", SECOND, "model-b", ["storage:local", "ui:window"],
                              parent=first.codeHash)
        versions.add_version(first.codeHash, second, Mapping.parse({"rename": {"city": "place"}}))
        versions.switch(identity, second.codeHash, "launched")
        assert storage.values(identity) == {"place": json.dumps("Lyon")}
    storage.close()
    return identity, first.codeHash


def test_going_back_to_an_earlier_version_from_the_shell(tmp_path: Path) -> None:
    identity, first = two_versions(tmp_path / "state")
    desktop = Desktop(tmp_path)
    try:
        desktop.start_kernel(real=True)
        if desktop.shell()["panel"] == "welcome":
            desktop.keys(KEY_ENTER)
        wait_for(lambda: desktop.shell()["panel"] == "launcher", 20, "the launcher")
        desktop.type("weather notes")
        wait_for(lambda: "Weather Notes" in desktop.shell()["suggestions"], 20, "the saved app suggested")
        index = desktop.shell()["suggestions"].index("Weather Notes")
        desktop.keys(*[KEY_DOWN] * (index + 1))
        button = wait_for(lambda: desktop.shell()["widgets"]["panel"].get("versions"), 10,
                          "the Versions button")
        mark = desktop.log.mark()
        desktop.click(button[0] + 5, button[1] + 5)
        desktop.log.wait("llmos: shell history visible", mark)
        wait_for(lambda: (desktop.shell()["history"] or {}).get("loaded"), 20, "the versions loaded")
        shown = desktop.shell()["history"]
        assert [(v["seq"], v["model"], v["current"]) for v in shown["versions"]] == \
            [(1, "model-a", False), (2, "model-b", True)]
        assert shown["selected"] == 1, "the version in use is selected first"
        assert any("Version 2  (in use)  ·  model-b" in t for t in desktop.shell()["texts"]["panel"])
        desktop.screenshot("history.png")

        desktop.keys(KEY_UP, KEY_ENTER)
        wait_for(lambda: "Now using version 1" in (desktop.shell()["history"] or {}).get("message", ""), 20,
                 "the rollback's outcome")
        assert [v["current"] for v in desktop.shell()["history"]["versions"]] == [True, False]
        answer = desktop.kcall("apps.history", ref=identity)
        assert answer["current"] == first and answer["moves"][-1]["to"] == first
        desktop.keys(KEY_ENTER)  # the version in use again: nothing to do, said plainly
        wait_for(lambda: "is the one in use" in desktop.shell()["history"]["message"], 10, "the plain no-op")
        desktop.keys(KEY_ESC)
        wait_for(lambda: desktop.shell()["panel"] == "launcher", 10, "Esc back to the launcher")
    finally:
        desktop.close()
    storage = AppStorage(tmp_path / "state" / "apps")
    try:
        assert storage.values(identity) == {"city": json.dumps("Lyon")}, "version 1's view of the data"
    finally:
        storage.close()
