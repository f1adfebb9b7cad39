"""The one policy: the machine's rules before anyone is asked, and the asks it leaves out.
(Settling a generated app against its code is tested with the gateway: tests/kernel/gateway.)"""

from __future__ import annotations

from llmos.kernel.caps.manifest import Manifest
from llmos.kernel.caps.policy import Policy
from llmos.kernel.caps.table import every_scope
from llmos.settings import AppsSettings


def test_policy() -> None:
    policy = Policy(deny=("clipboard:read",))
    assert policy.check(Manifest.parse(["ui:window"])) == []
    assert "clipboard:read" in policy.check(Manifest.parse(["clipboard:read"]))[0]
    assert policy.check(Manifest.parse([{"scope": "clipboard:read", "optional": True}])) == []
    assert "network:*" in policy.check(Manifest.parse(["network:*"]))[0]


def test_too_many_hosts_and_the_wildcard_switch() -> None:
    hosts = Manifest.parse([f"network:h{i}.example" for i in range(3)] + ["network:*"])
    problems = Policy(max_network_hosts=2, allow_network_wildcard=True).check(hosts)
    assert problems == ["policy allows at most 2 network hosts, got 4"]


def test_offered_leaves_out_denied_optional_asks() -> None:
    manifest = Manifest.parse([{"scope": "ui:window"}, {"scope": "notify", "optional": True},
                               {"scope": "timer", "optional": True}])
    assert [r.scope for r in Policy(deny=("notify",)).offered(manifest)] == ["ui:window", "timer"]


def test_from_settings_reads_the_apps_section() -> None:
    apps = AppsSettings(deny_capabilities=("timer",), allow_network_wildcard=True, max_network_hosts=7)
    policy = Policy.from_settings(apps, allowed=["ui:window"])
    assert policy == Policy(allowed=("ui:window",), deny=("timer",), allow_network_wildcard=True,
                            max_network_hosts=7)
    assert Policy.from_settings(AppsSettings()) == Policy()  # one set of defaults: the declarations'
    assert Policy().allowed == every_scope()
