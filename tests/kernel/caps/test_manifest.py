"""The one manifest shape: strict and tolerant readers, both spellings of "optional", plain words."""

from __future__ import annotations

import pytest

from llmos.kernel.caps.manifest import Manifest, ManifestError, Request
from llmos.kernel.caps.table import describe


def test_manifest_shapes() -> None:
    stored = Manifest.parse({"capabilities": [{"scope": "timer", "required": False}, "ui:window"]})
    assert stored.scopes == ["timer", "ui:window"] and stored.optional == ["timer"]
    listed = Manifest.parse({"capabilities": ["notify"], "optional": ["notify"]})
    assert listed.optional == ["notify"]
    with pytest.raises(ManifestError, match=r"capabilities\[1\]"):
        Manifest.parse(["ui:window", "root:everything"])
    with pytest.raises(ManifestError, match=r"capabilities\[0\]: expected"):
        Manifest.parse([7])


def test_one_json_spelling_round_trips() -> None:
    manifest = Manifest((Request("ui:window"), Request("notify", optional=True, reason="reminders")))
    data = manifest.to_json()
    assert data == {"capabilities": [{"scope": "ui:window", "optional": False},
                                     {"scope": "notify", "optional": True, "reason": "reminders"}]}
    assert Manifest.parse(data) == manifest
    assert Manifest.from_model(data).optional == ["notify"]
    assert Manifest.parse(manifest) is manifest and Manifest.parse(None) == Manifest()


def test_covers_any_declared_host_for_a_dynamic_one() -> None:
    manifest = Manifest.parse(["network:api.example.com", "bus:chat"])
    assert manifest.covers("network:api.example.com") and manifest.covers("network:*")
    assert manifest.covers("bus:*") and not manifest.covers("network:evil.com")
    assert not manifest.covers("bus:other") and not manifest.covers("timer")


def test_plain_words() -> None:
    assert describe("storage:local") == "Keep its own data on this device"
    assert describe("network:api.example.com") == "Talk to the website api.example.com"
    assert describe("network:*") == "Talk to any website on the internet"
    assert describe("bus:chat") == "Exchange messages on channel 'chat'"
    assert describe("root:everything") == "Use root:everything"
    assert Request("notify").words == "Show notifications"
