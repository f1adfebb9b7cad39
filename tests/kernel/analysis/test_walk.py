"""The fast walk's shortcuts (issue 17, part 3) change no finding: kind ids stand for exactly the node
types they replace, the watched offsets cover every name a rule reads, and a shared parse is the same
tree. The corpus tests pin the findings themselves."""

from __future__ import annotations

import pytest
from tree_sitter import Tree

from llmos.kernel.analysis import analyse
from llmos.kernel.analysis.kinds import ids_of
from llmos.kernel.analysis.tsparse import RECENT_MAX_BYTES, forget_trees, parse, parse_afresh
from llmos.kernel.analysis.watch import escape_starts, locatable, starts
from llmos.kernel.starter import STARTERS


def rules(code: str, dialect: str = "ts") -> list[str]:
    return [f"{f.rule}@{f.line}:{f.col}" for f in analyse(code, dialect=dialect).findings]


@pytest.mark.parametrize("dialect", ["ts", "tsx"])
def test_kind_ids_stand_for_node_types(dialect: str) -> None:
    code = STARTERS[0].code + "\nconst s: string = `a${b}`; let q = x!; type T = { k: 'v' };\n"
    cursor = parse_afresh(code, dialect).walk()
    seen = 0
    while True:
        node = cursor.node
        assert node is not None and node.kind_id in ids_of(dialect, node.type), node.type
        seen += 1
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                assert seen > 100
                return


def test_watched_offsets_include_overlapping_and_escaped_names() -> None:
    src = b"evaleval globalThis x.constr\\u0075ctor \\u0065val caf\xc3\xa9\\u0061"
    assert starts(src, ["eval"]) == {0, 4}
    assert starts(src, ["global", "globalThis"]) == {9}
    escaped = escape_starts(src)
    # `constr\u0075ctor` from its first byte on, `\u0065val` at its backslash, `café\u0061` from `c`
    assert set(range(22, 29)) | {39} | set(range(49, 55)) == escaped
    assert not locatable("") and not locatable("a\ufffd") and locatable("net")


def test_names_the_walk_reads_only_where_watched_are_still_found() -> None:
    sdk = "import { ui, net } from '@llm-os/sdk';\n"
    # an SDK object bound late, by an alias, and by a destructured namespace
    assert rules(sdk + "f(net);\nconst n = ui;\ng(n);\n") == ["no-computed-sdk-access@2:3",
                                                               "no-computed-sdk-access@4:3"]
    assert rules("import * as s from '@llm-os/sdk';\nconst { net } = s;\nh(net);\n") == [
        "no-computed-sdk-access@3:3"]
    # a callee that is an alias, a member callee, and a name spelt with an escape
    assert rules(sdk + "const dp = Object.defineProperty;\ndp(Array.prototype, 'x', {});\n") == [
        "no-prototype-tampering@3:1"]
    assert rules(sdk + "x.setTimeout('alert(1)', 1);\n") == ["no-string-timer@2:14"]
    assert rules(sdk + "const e = \\u0065val;\n") == ["encoded-payload@2:11", "no-eval@2:11"]


def test_a_name_bound_through_error_recovery_is_still_watched() -> None:
    # the parser inserts an empty identifier twice; the first is bound as an SDK name, the second is
    # then that name used as a value. The watched offsets cannot find an empty name, so every identifier
    # is read from there on.
    code = "import { ui net } from '@llm-os/sdk';\nconst g = <>{net.fetch('https://x.example')}</>;\n"
    assert "no-computed-sdk-access@2:48" in rules(code)


def test_the_same_source_is_parsed_once() -> None:
    def first(tree: Tree) -> int:  # a copy of a tree shares its nodes, a new parse does not
        child = tree.root_node.child(0)
        assert child is not None
        return child.id

    forget_trees()
    code = STARTERS[0].code
    assert first(parse(code)) == first(parse(code.encode())) == first(parse(code))
    assert first(parse(code, "tsx")) != first(parse(code))
    assert first(parse_afresh(code)) != first(parse(code))
    big = "let a = 1;\n" * (RECENT_MAX_BYTES // 11 + 1)
    one, two = parse(big), parse(big)  # both alive, so neither's nodes can reuse the other's memory
    assert first(one) != first(two)  # too large to keep



def test_strings_shorter_than_either_payload_pattern_are_not_searched() -> None:
    from llmos.kernel.analysis.rules import _BASE64, _HEX, _SHORTEST_RUN

    hex_run, base64_run = "ab" * 8, "aB1+" * 6
    assert _HEX.fullmatch(hex_run) and not _HEX.search(hex_run[:-1])
    assert _BASE64.fullmatch(base64_run) and not _BASE64.search(base64_run[:-1])
    assert min(len(hex_run), len(base64_run)) == _SHORTEST_RUN
