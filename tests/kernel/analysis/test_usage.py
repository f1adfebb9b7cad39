"""The gateway's usage reader: strict (literal hosts and channels only), and in agreement with the
analysis about which scope every SDK member needs, since both read kernel.caps.table."""

from __future__ import annotations

import pytest

from llmos.kernel.analysis import analyse
from llmos.kernel.analysis.usage import used_capabilities
from llmos.kernel.caps.table import TABLE, ScopeRow

ARGUMENTS = {"network": "'https://api.example.com/v1'", "bus": "'chat'", "app": "'app-0123abcd/convert'"}


def _member_cases() -> list[tuple[ScopeRow, str]]:
    return [(row, member) for row in TABLE for member in row.members if not member.endswith(".*")]


def test_usage_follows_aliases_and_literals() -> None:
    usage = used_capabilities("import { net as n, bus, clipboard } from '@llm-os/sdk';\n"
                              "n.fetch(`https://API.example.com:8443/x`); bus.publish('chat', 1);\n"
                              "clipboard.write('x'); const net = 1; net.fetch('https://evil.com');")
    assert usage.scopes == {"network:api.example.com:8443", "bus:chat", "clipboard:write"}
    assert used_capabilities("import { bus } from '@llm-os/sdk'; bus.publish(name);").unresolved


@pytest.mark.parametrize(("row", "member"), _member_cases(), ids=lambda case: getattr(case, "pattern", case))
def test_reader_and_analysis_agree_on_every_member(row: ScopeRow, member: str) -> None:
    namespace, name = member.split(".")
    argument = ARGUMENTS.get(row.kind, "1")
    code = f"import {{ {namespace} }} from '@llm-os/sdk';\n{namespace}.{name}({argument});\n"
    usage = used_capabilities(code)
    assert usage.unresolved == []
    assert usage.scopes == {row.scope(ARGUMENTS.get(row.kind, "").strip("'"))}
    assert set(analyse(code).capabilities) == usage.scopes


def test_wildcard_rows_and_ungated_members() -> None:
    usage = used_capabilities("import { ui, caps } from '@llm-os/sdk';\nui.Text('a'); ui.anyNewWidget(); "
                              "caps.has('timer');")
    assert usage.scopes == {"ui:window"} and usage.unresolved == []
    # Providing a function needs nothing (its caller holds a grant); calling one needs the exact target.
    code = ("import { apps } from '@llm-os/sdk';\napps.provide('convert', (x: number) => x * 2, 'doubles');\n"
            "apps.call('app-0123abcd/convert', 2);\n")
    assert used_capabilities(code).scopes == {"app:app-0123abcd/convert"}
    assert set(analyse(code).capabilities) == {"app:app-0123abcd/convert"}
    computed = used_capabilities("import { apps } from '@llm-os/sdk';\napps.call(target + '/convert', 2);")
    assert computed.unresolved == ["2:1: apps.call needs a literal 'APP/FUNCTION' target"]
    computed_code = "import { apps } from '@llm-os/sdk';\napps.call(target, 2);"
    assert set(analyse(computed_code).capabilities) == {"app:*"}  # the token enforces the exact one


def test_what_cannot_be_known_before_launch_is_unresolved() -> None:
    usage = used_capabilities("import { net, bus, clipboard, teleport } from '@llm-os/sdk';\n"
                              "net.fetch(url); bus.publish('Not A Channel', 1); clipboard.readText(); "
                              "teleport.now();")
    assert usage.scopes == set()
    assert usage.unresolved[::-1] == [
        "2:1: net.fetch needs a literal https:// URL so its host is known before launch",
        "2:17: bus.publish needs a literal channel name",
        "2:50: clipboard.readText is not a known SDK call",
        "2:72: teleport.now is not a known SDK call",
    ]
