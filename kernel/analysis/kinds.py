"""Node kinds as the grammar's integer ids, so the rules' walk can test a node's kind without reading
`node.type`, which builds a new str on every read (several times the cost of `node.kind_id`, on each of
the ~17 nodes per line the walk visits).

A name can have several ids (aliases, and a keyword spelt like a node, such as the `string` type
keyword), so each name maps to the set of every id the grammar gives that name: `kind_id in ids` is
then exactly `node.type == name`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from .tsparse import language


def ids_of(dialect: str, *names: str) -> frozenset[int]:
    """Every id the grammar of `dialect` gives any of `names`, named or not."""
    return frozenset(kind for name in names for kind in _by_name(dialect).get(name, ()))


@cache
def _by_name(dialect: str) -> dict[str, frozenset[int]]:
    grammar = language(dialect)
    by_name: dict[str, set[int]] = {}
    for kind in range(grammar.node_kind_count):
        name = grammar.node_kind_for_id(kind)
        if name is not None:
            by_name.setdefault(name, set()).add(kind)
    return {name: frozenset(ids) for name, ids in by_name.items()}


@dataclass(frozen=True)
class Kinds:
    """The kinds the rules and the static reading test, as id sets for one grammar."""

    identifier: frozenset[int]
    property_identifier: frozenset[int]
    member: frozenset[int]
    subscript: frozenset[int]
    call: frozenset[int]
    string: frozenset[int]
    template: frozenset[int]
    substitution: frozenset[int]
    import_: frozenset[int]
    import_part: frozenset[int]  # import_specifier, namespace_import, import_clause
    declarator: frozenset[int]
    sequence: frozenset[int]
    binary: frozenset[int]
    array: frozenset[int]
    block: frozenset[int]
    wrapper: frozenset[int]  # parenthesized, as, satisfies, non-null: an expression in parens or with a type
    sdk_step: frozenset[int]  # what sdk_path looks through: parenthesized, non-null
    chain: frozenset[int]  # member, subscript, parenthesized, non-null: the links of an object chain
    reference: frozenset[int]  # identifier, member, subscript: what can name a function or an object


_PARENS = ("parenthesized_expression", "non_null_expression")


@cache
def kinds(dialect: str) -> Kinds:
    def of(*names: str) -> frozenset[int]:
        return ids_of(dialect, *names)

    return Kinds(
        identifier=of("identifier"), property_identifier=of("property_identifier"),
        member=of("member_expression"), subscript=of("subscript_expression"), call=of("call_expression"),
        string=of("string"), template=of("template_string"), substitution=of("template_substitution"),
        import_=of("import"), import_part=of("import_specifier", "namespace_import", "import_clause"),
        declarator=of("variable_declarator"), sequence=of("sequence_expression"),
        binary=of("binary_expression"), array=of("array"), block=of("statement_block"),
        wrapper=of(*_PARENS, "as_expression", "satisfies_expression"), sdk_step=of(*_PARENS),
        chain=of("member_expression", "subscript_expression", *_PARENS),
        reference=of("identifier", "member_expression", "subscript_expression"))
