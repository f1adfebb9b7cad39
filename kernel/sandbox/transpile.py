"""A deterministic TypeScript → JavaScript type stripper for app code, built on tree-sitter-typescript.

Why our own: QuickJS runs JavaScript only, and the app's module shape must change anyway. The
`@llm-os/sdk` import becomes bindings from the SDK object the host injects, and `export default`
becomes the value the wrapper returns. Types are erased by deleting byte ranges, so every kept token
stays on its original line and JS error line numbers match the TypeScript source.
"""

from __future__ import annotations

from dataclasses import dataclass

import tree_sitter

from llmos.kernel.analysis.tsparse import SDK_MODULE, location, parse

SDK_PARAM = "__sdk"
_PREFIX = f'(function ({SDK_PARAM}) {{ "use strict"; '

# Nodes that are pure type syntax: deleted with everything inside them.
_ERASE = {
    "type_annotation", "type_parameters", "type_arguments", "interface_declaration",
    "type_alias_declaration", "ambient_declaration", "abstract_method_signature", "function_signature",
    "index_signature", "implements_clause", "accessibility_modifier", "override_modifier",
}
_DECLARATIONS = {"interface_declaration", "type_alias_declaration", "ambient_declaration"}


class TranspileError(ValueError):
    """Located problem in the app source: `line` and `column` are 1-based."""

    def __init__(self, message: str, line: int, column: int, filename: str = "app.ts") -> None:
        super().__init__(f"{filename}:{line}:{column}: {message}")
        self.filename = filename
        self.line = line
        self.column = column
        self.message = message


@dataclass(frozen=True)
class Transpiled:
    """`code` evaluates to a function (sdk) -> default export."""

    code: str
    default_name: str


class _Stripper:
    def __init__(self, source: bytes) -> None:
        self.source = source
        self.lines = source.split(b"\n")
        self.edits: list[tuple[int, int, bytes]] = []
        self.default_name: str | None = None

    def error(self, node: tree_sitter.Node, message: str) -> TranspileError:
        return TranspileError(message, *location(self.lines, node))

    def text(self, node: tree_sitter.Node) -> str:
        return self.source[node.start_byte:node.end_byte].decode()

    def delete(self, start: int, end: int) -> None:
        self.edits.append((start, end, self._lines_of(start, end, b"")))

    def replace(self, node: tree_sitter.Node, text: str) -> None:
        self.edits.append((node.start_byte, node.end_byte,
                           self._lines_of(node.start_byte, node.end_byte, text.encode())))

    def _lines_of(self, start: int, end: int, text: bytes) -> bytes:
        """`text` plus the line breaks it removes, so every later token keeps its line."""
        return text + b"\n" * max(0, self.source.count(b"\n", start, end) - text.count(b"\n"))

    def walk(self, node: tree_sitter.Node) -> None:
        kind = node.type
        if node.is_error or node.is_missing:
            raise self.error(node, f"syntax error near {self.text(node)[:40]!r}")
        if kind in _ERASE:
            self.delete(node.start_byte, node.end_byte)
            return
        handler = getattr(self, f"on_{kind}", None)
        if handler is not None and handler(node) is False:
            return
        for child in node.children:
            self.walk(child)

    # -- type-only expressions: keep the value, drop the type -------------------------------------
    def on_as_expression(self, node: tree_sitter.Node) -> bool:
        value = node.children[0]
        self.delete(value.end_byte, node.end_byte)
        self.walk(value)
        return False

    on_satisfies_expression = on_as_expression

    def on_non_null_expression(self, node: tree_sitter.Node) -> None:
        bang = node.children[-1]
        if bang.type == "!":
            self.delete(bang.start_byte, bang.end_byte)

    def on_optional_parameter(self, node: tree_sitter.Node) -> None:
        for child in node.children:
            if child.type == "?":
                self.delete(child.start_byte, child.end_byte)

    def on_required_parameter(self, node: tree_sitter.Node) -> bool | None:
        if node.children and node.children[0].type == "this":  # `this: T` types `this`; it is no parameter
            comma = node.next_sibling
            end = comma.end_byte if comma is not None and comma.type == "," else node.end_byte
            self.delete(node.start_byte, end)
            return False
        if any(child.type in ("accessibility_modifier", "readonly") for child in node.children):
            raise self.error(node, "constructor parameter properties are not supported; assign fields "
                               "in the constructor body")
        return None

    def on_variable_declarator(self, node: tree_sitter.Node) -> None:
        for child in node.children:
            if child.type == "!":  # definite assignment `let x!: T`
                self.delete(child.start_byte, child.end_byte)

    def on_public_field_definition(self, node: tree_sitter.Node) -> None:
        for child in node.children:
            if child.type in ("readonly", "declare", "abstract", "?", "!"):
                self.delete(child.start_byte, child.end_byte)

    def on_class_declaration(self, node: tree_sitter.Node) -> None:
        return None

    def on_abstract_class_declaration(self, node: tree_sitter.Node) -> None:
        abstract = node.children[0]
        self.delete(abstract.start_byte, abstract.end_byte)

    def on_enum_declaration(self, node: tree_sitter.Node) -> None:
        raise self.error(node, "enums are not supported; use a plain object")

    def on_module(self, node: tree_sitter.Node) -> None:
        raise self.error(node, "namespaces are not supported")

    on_internal_module = on_module

    # -- modules -------------------------------------------------------------------------------
    def on_import_statement(self, node: tree_sitter.Node) -> bool:
        source = node.child_by_field_name("source")
        module = self.text(source)[1:-1] if source is not None else ""
        if any(child.type == "type" for child in node.children):
            self.delete(node.start_byte, node.end_byte)  # `import type ...`
            return False
        if module != SDK_MODULE:
            raise self.error(node, f"only {SDK_MODULE!r} can be imported, not {module!r}")
        clause = next((c for c in node.children if c.type == "import_clause"), None)
        if clause is None:
            self.delete(node.start_byte, node.end_byte)
            return False
        lines: list[str] = []
        for part in clause.children:
            if part.type == "namespace_import":
                name = next(c for c in part.children if c.type == "identifier")
                lines.append(f"const {self.text(name)} = {SDK_PARAM};")
            elif part.type == "named_imports":
                names = []
                for spec in part.children:
                    if spec.type != "import_specifier" or any(c.type == "type" for c in spec.children):
                        continue
                    imported = spec.child_by_field_name("name")
                    alias = spec.child_by_field_name("alias")
                    if imported is None:
                        raise self.error(spec, "an import specifier without a name")
                    names.append(f"{self.text(imported)}: {self.text(alias)}" if alias
                                 else self.text(imported))
                if names:
                    lines.append(f"const {{ {', '.join(names)} }} = {SDK_PARAM};")
            elif part.type == "identifier":
                raise self.error(part, f"{SDK_MODULE!r} has no default export; "
                                       "use `import { ui } from ...`")
        self.replace(node, " ".join(lines))
        return False

    def on_export_statement(self, node: tree_sitter.Node) -> bool:
        children = node.children
        declaration = node.child_by_field_name("declaration")
        if any(c.type == "type" for c in children) or (
                declaration is not None and declaration.type in _DECLARATIONS):
            self.delete(node.start_byte, node.end_byte)
            return False
        if node.child_by_field_name("source") is not None or any(c.type == "*" for c in children):
            raise self.error(node, "re-exports are not supported")
        is_default = any(c.type == "default" for c in children)
        declaration = node.child_by_field_name("declaration")
        value = node.child_by_field_name("value")
        if declaration is not None:
            self.delete(node.start_byte, declaration.start_byte)
            if is_default:
                name = declaration.child_by_field_name("name")
                if name is None:  # `export default function () {}`
                    self.edits.append((node.start_byte, node.start_byte, b"const __default = "))
                    self.default_name = "__default"
                else:
                    self.default_name = self.text(name)
            self.walk(declaration)
            return False
        if is_default and value is not None:
            self.edits.append((node.start_byte, value.start_byte, b"const __default = "))
            self.default_name = "__default"
            self.walk(value)
            return False
        self.delete(node.start_byte, node.end_byte)  # `export { a, b };` exports nothing here
        return False

    def result(self) -> bytes:
        out, position = [], 0
        for start, end, text in sorted(self.edits, key=lambda e: (e[0], e[1])):
            if start < position:
                continue  # inside a range already removed
            out.append(self.source[position:start])
            out.append(text)
            position = end
        out.append(self.source[position:])
        return b"".join(out)


def transpile(source: str, filename: str = "app.ts") -> Transpiled:
    """Strip types and wrap the module; raises TranspileError with a line:column location."""
    data = source.encode()
    tree = parse(data)
    stripper = _Stripper(data)
    try:
        stripper.walk(tree.root_node)
    except TranspileError as error:
        raise TranspileError(error.message, error.line, error.column, filename) from None
    if stripper.default_name is None:
        raise TranspileError("the app must `export default function App() { ... }`", 1, 1, filename)
    body = stripper.result().decode()
    code = f"{_PREFIX}{body}\n;return {stripper.default_name};\n}})"
    return Transpiled(code, stripper.default_name)
