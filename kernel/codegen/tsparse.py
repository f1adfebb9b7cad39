"""Parse TypeScript with tree-sitter: the syntax check every generated app must pass."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import tree_sitter_typescript
from tree_sitter import Language, Node, Parser, Tree


@cache
def _parser() -> Parser:
    return Parser(Language(tree_sitter_typescript.language_typescript()))


def parse(code: str) -> Tree:
    return _parser().parse(code.encode("utf-8"))


@dataclass(frozen=True)
class SyntaxProblem:
    line: int  # 1-based
    column: int  # 1-based
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"


def syntax_problems(code: str, limit: int = 20) -> list[SyntaxProblem]:
    """ERROR and MISSING nodes, located; empty means the code parses cleanly."""
    problems: list[SyntaxProblem] = []
    stack: list[Node] = [parse(code).root_node]
    while stack and len(problems) < limit:
        node = stack.pop()
        if node.is_error or node.is_missing:
            row, col = node.start_point
            what = f"missing {node.type}" if node.is_missing else "syntax error"
            problems.append(SyntaxProblem(row + 1, col + 1, what))
            continue
        if node.has_error:
            stack.extend(reversed(node.children))
    return problems
