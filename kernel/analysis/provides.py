"""What an app offers other apps, read from its code: each `apps.provide('name', fn, 'about')` at the top
level of the module, with a literal name (and, if given, a literal description). The registry lists these
so that a generator can find an installed app that does what a request needs and call it
(docs/composition.md); at run time the app's host reports what it really provides, and only that is
callable."""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from llmos.kernel.caps.table import target_of

from .tsparse import parse, text
from .usage import sdk_bindings, string_literal

MAX_ABOUT = 500  # characters of a description kept (the runtime keeps as many)


@dataclass(frozen=True)
class Provided:
    """One function an app provides: its name and what it says it takes and gives."""

    name: str
    about: str = ""


def provided_functions(code: str) -> tuple[Provided, ...]:
    """The functions `code` provides, in the order it provides them. A call the code makes with a
    computed name is not listed: nothing can be known about it before the app runs."""
    root = parse(code).root_node
    bindings = sdk_bindings(root)
    found: dict[str, Provided] = {}
    for statement in root.named_children:
        call = _call_of(statement)
        if call is None or not _is_provide(call, bindings):
            continue
        args = call.child_by_field_name("arguments")
        values = list(args.named_children) if args is not None else []
        name = string_literal(values[0]) if values else None
        if name is None or target_of(f"app/{name}") is None or name in found:
            continue
        about = string_literal(values[2]) if len(values) > 2 else None
        found[name] = Provided(name, (about or "")[:MAX_ABOUT])
    return tuple(found.values())


def _call_of(statement: Node) -> Node | None:
    if statement.type != "expression_statement" or not statement.named_children:
        return None
    expression = statement.named_children[0]
    return expression if expression.type == "call_expression" else None


def _is_provide(call: Node, bindings: dict[str, str]) -> bool:
    """`apps.provide(…)`, whatever local name `apps` was imported as."""
    function = call.child_by_field_name("function")
    if function is None or function.type != "member_expression":
        return False
    owner, member = function.child_by_field_name("object"), function.child_by_field_name("property")
    return (owner is not None and member is not None and owner.type == "identifier"
            and bindings.get(text(owner)) == "apps" and text(member) == "provide")
