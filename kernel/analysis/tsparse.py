"""App source as tree-sitter sees it: the one parser, the one place that turns a node into a located
line and column, and the one syntax-error walker. The analysis, the gateway's usage reader, the
gateway's does-it-parse check and the app host's type stripper (kernel/sandbox/transpile.py) all use
this module."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import tree_sitter_typescript
from tree_sitter import Language, Node, Parser, Tree

SDK_MODULE = "@llm-os/sdk"  # the one module app code may import


@cache
def _parser(dialect: str) -> Parser:
    grammar = tree_sitter_typescript
    language = grammar.language_tsx() if dialect == "tsx" else grammar.language_typescript()
    return Parser(Language(language))


def parse(code: str | bytes, dialect: str = "ts") -> Tree:
    """TypeScript (or TSX with dialect="tsx") to a syntax tree; never raises, errors become nodes."""
    return _parser(dialect).parse(code.encode("utf-8") if isinstance(code, str) else code)


def text(node: Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text is not None else ""


def location(lines: list[bytes], node: Node) -> tuple[int, int]:
    """1-based line and character (not byte) column of a node; `lines` is the source split on b"\\n"."""
    row, byte_col = node.start_point
    line = lines[row] if row < len(lines) else b""
    return row + 1, len(line[:byte_col].decode("utf-8", "replace")) + 1


@dataclass(frozen=True)
class SyntaxProblem:
    line: int  # 1-based
    column: int  # 1-based, in characters
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"


def syntax_errors(root: Node, src: bytes, limit: int) -> list[SyntaxProblem]:
    """ERROR and MISSING nodes, outermost first, at most `limit`; empty means the code parses cleanly."""
    problems: list[SyntaxProblem] = []
    lines = src.split(b"\n")
    stack = [root]
    while stack and len(problems) < limit:
        node = stack.pop()
        if node.is_error or node.is_missing:
            if node.is_missing:
                message = f"missing {node.type!r}"
            else:
                snippet = text(node).split("\n")[0][:40]
                message = f"unexpected {snippet!r}" if snippet else "unexpected input"
            problems.append(SyntaxProblem(*location(lines, node), message))
            continue
        if node.has_error:
            stack.extend(reversed(node.children))
    return problems


def syntax_problems(code: str, limit: int = 20) -> list[SyntaxProblem]:
    """The syntax check every model-written app must pass before anything else looks at it."""
    src = code.encode("utf-8")
    return syntax_errors(parse(src).root_node, src, limit)
