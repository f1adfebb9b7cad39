"""What generated code needs, read strictly enough for the gateway to grant from it.

A model *claims* capabilities; `used_capabilities()` reads the code with tree-sitter and finds the
ones it *needs*: SDK members it touches (kernel.caps.table says which scope each needs), literal hosts
passed to net.fetch, literal bus channels. Anything it cannot know before launch is `unresolved`, and
the policy refuses it. The gateway grants no more than what the code needs and the policy allows, so
neither a confused model nor an injected prompt can widen what the approval dialog asks for.

The analysis (rules.py) reads the same table more leniently (a computed host is network:*), because
there the capability token, not the reading, is what enforces the exact host.
"""

from __future__ import annotations

from tree_sitter import Node

from llmos.kernel.analysis.tsparse import SDK_MODULE, parse, text
from llmos.kernel.caps.manifest import Usage
from llmos.kernel.caps.table import is_ungated, needed_by


def sdk_bindings(root: Node) -> dict[str, str]:
    """local name -> SDK namespace, from `import { net as n } from '@llm-os/sdk'`."""
    names: dict[str, str] = {}
    for stmt in root.children:
        if stmt.type != "import_statement":
            continue
        source = stmt.child_by_field_name("source")
        if source is None or text(source).strip("'\"") != SDK_MODULE:
            continue
        stack = list(stmt.children)
        while stack:
            node = stack.pop()
            if node.type == "import_specifier":
                name = node.child_by_field_name("name")
                alias = node.child_by_field_name("alias")
                if name is not None:
                    names[text(alias if alias is not None else name)] = text(name)
            stack.extend(node.children)
    return names


def string_literal(node: Node | None) -> str | None:
    """The value of a string literal or a template without substitutions, else None."""
    if node is None:
        return None
    if node.type == "string":
        return "".join(text(c) for c in node.children if c.type in ("string_fragment", "escape_sequence"))
    if node.type == "template_string" and not any(c.type == "template_substitution" for c in node.children):
        return text(node)[1:-1]
    return None


def first_argument(member: Node) -> Node | None:
    call = member.parent
    if call is None or call.type != "call_expression" or call.child_by_field_name("function") != member:
        return None
    args = call.child_by_field_name("arguments")
    named = list(args.named_children) if args is not None else []
    return named[0] if named else None


def used_capabilities(code: str) -> Usage:
    root = parse(code).root_node
    bindings = sdk_bindings(root)
    usage = Usage()
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type != "member_expression":
            continue
        obj = node.child_by_field_name("object")
        prop = node.child_by_field_name("property")
        if obj is None or prop is None or obj.type != "identifier" or text(obj) not in bindings:
            continue
        namespace, member = bindings[text(obj)], text(prop)
        if is_ungated(namespace, member):
            continue
        where = f"{node.start_point[0] + 1}:{node.start_point[1] + 1}"
        row = needed_by(namespace, member)
        if row is None:
            usage.unresolved.append(f"{where}: {namespace}.{member} is not a known SDK call")
            continue
        scope = row.scope(string_literal(first_argument(node)))
        if scope:
            usage.scopes.add(scope)
        elif row.argument is not None:
            usage.unresolved.append(f"{where}: {namespace}.{member} needs {row.argument.needs}")
    return usage
