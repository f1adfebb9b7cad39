"""Scopes that should never be asked for (issue 16, item 8): the system's own channel names, and this
machine or its local network as a website. With the default policy such a scope went to the user for
approval; now the one table says it is reserved and the one policy refuses it with a plain reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmos.kernel.caps.manifest import Manifest, Usage
from llmos.kernel.caps.policy import Policy, PolicyError
from llmos.kernel.caps.table import RESERVED_CHANNELS, reserved

ROOT = Path(__file__).resolve().parents[3]

RESERVED = ["bus:kernel.admin", "bus:caps.revoke", "bus:llmos.shell", "bus:system", "bus:system-update",
            "bus:kernel_admin", "bus:compositor.focus", "bus:flow.approve", "bus:bus.message",
            "bus:caps.revoked", "network:localhost", "network:api.localhost", "network:127.0.0.1",
            "network:127.1", "network:2130706433", "network:0x7f.0.0.1", "network:10.0.0.5:8080",
            "network:192.168.1.1", "network:169.254.169.254", "network:0.0.0.0"]
ORDINARY = ["bus:chat", "bus:notes-sync", "bus:kernelpanic-game", "bus:my.caps", "network:evil.example",
            "network:api.weather.example", "network:8.8.8.8", "network:localhost-news.example",
            "storage:local", "timer", "bus:*", "network:*"]


@pytest.mark.parametrize("scope", RESERVED)
def test_reserved_scopes_say_why(scope: str) -> None:
    reason = reserved(scope)
    assert reason is not None and scope.partition(":")[2].split(":")[0] in reason


@pytest.mark.parametrize("scope", ORDINARY)
def test_ordinary_scopes_are_not_reserved(scope: str) -> None:
    assert reserved(scope) is None


@pytest.mark.parametrize("scope", RESERVED)
def test_the_default_policy_never_permits_them(scope: str) -> None:
    policy = Policy(allow_network_wildcard=True)
    assert not policy.permits(scope)
    with pytest.raises(PolicyError, match=re.escape(scope)):
        policy.settle(None, Usage({"ui:window", scope}))
    required = policy.check(Manifest.parse(["ui:window", scope]))
    assert len(required) == 1 and scope in required[0] and "never" in required[0]
    optional = Manifest.parse(["ui:window", {"scope": scope, "optional": True}])
    assert [r.scope for r in policy.offered(optional)] == ["ui:window"], "never even asked"


def test_the_issue_examples_are_refused_but_an_unknown_site_is_still_a_question() -> None:
    problems = Policy().check(Manifest.parse(["ui:window", "bus:kernel.admin", "bus:caps.revoke",
                                              "network:evil.example"]))
    assert problems == [
        "bus:kernel.admin can never be granted: 'kernel.admin' is a channel name the system itself uses",
        "bus:caps.revoke can never be granted: 'caps.revoke' is a channel name the system itself uses",
    ]


def _names_in(folder: str) -> set[str]:
    """The first part of every name a service publishes on (events it pushes, broadcasts, emits) and of
    every namespaced RPC method (`caps.revoke`); single-word commands (`stop`) are not channels."""
    found: set[str] = set()
    published = re.compile(r"""\.(?:push|publish|broadcast|emit)\(\s*["']([a-z][a-z0-9_.-]*)["']""")
    methods = re.compile(r"""@rpc\(\s*["']([a-z][a-z0-9_-]*\.[a-z0-9_.-]+)["']""")
    for path in (ROOT / folder).rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for name in published.findall(source) + methods.findall(source):
            found.add(re.split(r"[._-]", name, maxsplit=1)[0])
    return found


def test_every_name_the_system_uses_is_reserved() -> None:
    used = set().union(*(_names_in(folder) for folder in ("kernel", "compositor", "hal", "init")))
    assert {"caps", "flow", "app", "apps", "bus", "window", "input"} <= used, "the scan finds the names"
    assert used <= RESERVED_CHANNELS, f"add these to RESERVED_CHANNELS: {sorted(used - RESERVED_CHANNELS)}"


def test_the_network_wildcard_never_covers_this_machine() -> None:
    from llmos.kernel.caps.scopes import scope_allows

    granted = frozenset({"ui:window", "network:*"})
    assert scope_allows(granted, "network:evil.example")
    assert not scope_allows(granted, "network:localhost")
    assert not scope_allows(granted, "network:169.254.169.254")
    assert scope_allows(frozenset({"network:127.0.0.1:8080"}), "network:127.0.0.1:8080"), "an exact grant"


def test_the_launcher_never_mints_a_reserved_scope(tmp_path) -> None:
    """apps.run may name granted scopes itself; the launcher refuses a reserved one before any token."""
    import asyncio

    from llmos.kernel.launcher import Launcher
    from llmos.kernel.registry import Registry

    class Authority:
        def __init__(self) -> None:
            self.minted: list[list[str]] = []

        def mint(self, app_id: str, scopes: list[str], ttl: object) -> str:
            self.minted.append(scopes)
            return "token"

    code = ("import { ui, bus } from '@llm-os/sdk';\nexport default function App() {\n"
            "  bus.publish('kernel.admin', 1);\n  return ui.Window({ title: 'x' }, []);\n}\n")
    authority = Authority()
    with Registry(tmp_path / "state") as registry:
        record = registry.add("chat", code, "someone", ["ui:window", "bus:kernel.admin"])
        launcher = Launcher(None, authority, lambda *_: None, lambda: "none")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=re.escape("bus:kernel.admin can never be granted")):
            asyncio.run(launcher.launch(record, ["ui:window", "bus:kernel.admin"]))
    assert authority.minted == []
