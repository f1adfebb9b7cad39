"""The capability table against what ships: sdk/js/runtime.js must gate, and sdk/ts/index.d.ts must
document, exactly the members the table says need a scope; the docs must show the table.

Members that need no scope (widgets, hooks, new pure helpers) are not listed anywhere and are not
checked here, except that their namespace must be known to the table (else the gateway refuses code
that uses it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tree_sitter import Node

from llmos.kernel.analysis.tsparse import parse, text
from llmos.kernel.caps.scopes import FIXED, parse_scope
from llmos.kernel.caps.table import TABLE, UNGATED, describe, markdown, needed_by, row_of

ROOT = Path(__file__).resolve().parents[3]
RUNTIME = ROOT / "sdk" / "js" / "runtime.js"
DTS = ROOT / "sdk" / "ts" / "index.d.ts"
NEEDS = re.compile(r"\bneeds ([a-z]+(?::[A-Za-z*/]+)?)", re.I)


def _walk(node: Node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _string(node: Node | None) -> str | None:
    return text(node)[1:-1] if node is not None and node.type == "string" else None


def _gate(condition: Node) -> str | None:
    """`has("timer")` -> "timer"; `anyWith("network:")` -> "network:HOST" (the row's pattern)."""
    call = next((n for n in _walk(condition) if n.type == "call_expression"), None)
    if call is None:
        return None
    name = text(call.child_by_field_name("function"))
    args = call.child_by_field_name("arguments")
    arg = _string(args.named_children[0]) if args is not None and args.named_child_count else None
    if name == "has" and arg is not None:
        return arg
    if name == "anyWith" and arg is not None:
        row = row_of(arg + "x")
        return row.pattern if row is not None else f"{arg}?"
    return None


def runtime_sdk() -> tuple[set[str], dict[str, str]]:
    """(the SDK's namespaces, {gated "ns.member": the scope pattern its gate checks})."""
    root = parse(RUNTIME.read_text()).root_node
    objects = set()
    for node in _walk(root):
        if node.type == "variable_declarator":
            value = node.child_by_field_name("value")
            if value is not None and (value.type == "object" or text(value).startswith("freeze({")):
                objects.add(text(node.child_by_field_name("name")))
    sdk = next(n for n in _walk(root) if n.type == "variable_declarator"
               and text(n.child_by_field_name("name")) == "sdk")
    keys = {text(pair.child_by_field_name("key")) for pair in _walk(sdk) if pair.type == "pair"}
    keys |= {text(short) for short in _walk(sdk) if short.type == "shorthand_property_identifier"}
    namespaces = keys & objects
    gated: dict[str, str] = {}
    for node in _walk(root):
        if node.type != "if_statement":
            continue
        scope = _gate(node.child_by_field_name("condition"))
        if scope is None:
            continue
        for assignment in _walk(node.child_by_field_name("consequence")):
            if assignment.type != "assignment_expression":
                continue
            left = assignment.child_by_field_name("left")
            if left is not None and left.type == "member_expression":
                owner = text(left.child_by_field_name("object"))
                if owner in namespaces:
                    gated[f"{owner}.{text(left.child_by_field_name('property'))}"] = scope
    return namespaces, gated


def dts_sdk() -> tuple[dict[str, str], dict[str, str]]:
    """({namespace: its doc comment}, {"ns.member": the member's doc comment}) from index.d.ts."""
    root = parse(DTS.read_text()).root_node
    namespaces: dict[str, str] = {}
    members: dict[str, str] = {}
    for statement in root.named_children:
        if statement.type != "export_statement":
            continue
        declarator = next((n for n in _walk(statement) if n.type == "variable_declarator"), None)
        body = next((n for n in _walk(statement) if n.type == "object_type"), None)
        if declarator is None or body is None:
            continue
        namespace = text(declarator.child_by_field_name("name"))
        before = statement.prev_named_sibling
        namespaces[namespace] = text(before) if before is not None and before.type == "comment" else ""
        for member in body.named_children:
            if member.type in ("property_signature", "method_signature"):
                before = member.prev_named_sibling
                comment = text(before) if before is not None and before.type == "comment" else ""
                members[f"{namespace}.{text(member.child_by_field_name('name'))}"] = comment
    return namespaces, members


NAMESPACES, GATED = runtime_sdk()
DTS_NAMESPACES, DTS_MEMBERS = dts_sdk()


def test_the_readers_find_the_sdk() -> None:
    assert {"ui", "storage", "net", "timer", "clipboard", "bus", "caps"} <= NAMESPACES
    assert len(GATED) >= 10 and "storage.get" in GATED and GATED["net.fetch"] == "network:HOST"
    assert {"ui", "storage", "net", "timer", "clipboard", "bus", "caps"} <= set(DTS_NAMESPACES)


def test_rows_are_well_formed() -> None:
    patterns = [row.pattern for row in TABLE]
    assert len(patterns) == len(set(patterns))
    members = [member for row in TABLE for member in row.members]
    assert len(members) == len(set(members)), "a member is listed under two scopes"
    for row in TABLE:
        example = row.pattern if row.argument is None else \
            f"{row.kind}:" + "/".join("example" for _ in row.argument.placeholder.split("/"))
        assert parse_scope(example) == example and row_of(example) is row
        assert describe(example) and row.members
    assert {row.pattern for row in TABLE if row.argument is None} == FIXED


@pytest.mark.parametrize("member", sorted(GATED))
def test_every_gated_runtime_member_is_in_the_table(member: str) -> None:
    row = needed_by(*member.split("."))
    assert row is not None, f"runtime.js gates {member} on {GATED[member]}; add it to kernel/caps/table.py"
    assert row.pattern == GATED[member], \
        f"runtime.js gates {member} on {GATED[member]}, the table says {row.pattern}"


@pytest.mark.parametrize("member", sorted(m for row in TABLE for m in row.members))
def test_every_table_member_is_in_the_runtime(member: str) -> None:
    namespace, name = member.split(".")
    assert namespace in NAMESPACES, f"the table names {member}, but runtime.js has no namespace {namespace}"
    if name != "*":
        row = needed_by(namespace, name)
        assert row is not None and GATED.get(member) == row.pattern, \
            f"the table says {member} needs {row and row.pattern}; runtime.js gates it on {GATED.get(member)}"


def test_every_runtime_namespace_is_known_to_the_table() -> None:
    known = {member.split(".")[0] for row in TABLE for member in row.members}
    known |= {member.split(".")[0] for member in UNGATED}
    assert known >= NAMESPACES, (f"runtime.js namespaces {sorted(NAMESPACES - known)} are in no row of "
                                 "kernel/caps/table.py; add them to UNGATED if they need no scope")


@pytest.mark.parametrize("member", sorted(GATED))
def test_dts_says_what_each_gated_member_needs(member: str) -> None:
    assert member in DTS_MEMBERS, f"index.d.ts does not declare {member}"
    assert GATED[member] in NEEDS.findall(DTS_MEMBERS[member]), \
        f"index.d.ts: the doc comment on {member} must say 'needs {GATED[member]}'"


def test_dts_needs_comments_are_not_stale() -> None:
    for member, comment in DTS_MEMBERS.items():
        for scope in NEEDS.findall(comment):
            assert GATED.get(member) == scope, \
                f"index.d.ts says {member} needs {scope}; runtime.js gates it on {GATED.get(member)}"
    for row in TABLE:
        for member in row.members:
            namespace, name = member.split(".")
            if name == "*":
                assert row.pattern in NEEDS.findall(DTS_NAMESPACES[namespace]), \
                    f"index.d.ts: the doc comment on `{namespace}` must say 'needs {row.pattern}'"


def test_dts_scope_type_lists_the_table() -> None:
    source = DTS.read_text()
    union = re.search(r"export type Scope =(.*?);", source, re.S)
    assert union is not None
    declared = set(re.findall(r'"([^"]+)"', union.group(1))) | {
        f"{kind}:{{arg}}" for kind in re.findall(r"`([a-z]+):\$\{string\}`", union.group(1))}
    expected = {row.pattern if row.argument is None else f"{row.kind}:{{arg}}" for row in TABLE}
    assert declared == expected


def test_docs_show_the_table() -> None:
    analysis = (ROOT / "docs" / "analysis.md").read_text()
    block = re.search(r"<!-- scope-table:begin -->\n(.*?)\n<!-- scope-table:end -->", analysis, re.S)
    assert block is not None and block.group(1) == markdown(), \
        "docs/analysis.md is stale: paste kernel.caps.table.markdown() between the scope-table markers"
    runtime = (ROOT / "docs" / "runtime.md").read_text()
    listed = re.search(r"The scopes are `([^`]+)`", runtime)
    assert listed is not None
    scopes = {re.sub(r"\[:PORT\]$", "", scope) for scope in listed.group(1).split()}
    assert scopes == {row.pattern for row in TABLE}, "docs/runtime.md lists other scopes than the table"
