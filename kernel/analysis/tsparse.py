"""App source as tree-sitter sees it: the one parser, the one place that turns a node into a located
line and column, and the one syntax-error walker. The analysis, the gateway's usage reader, the
gateway's does-it-parse check and the app host's type stripper (kernel/sandbox/transpile.py) all use
this module.

Parsing is the largest single cost of the analysis (about 5 ms per 1,000 lines), and one generated app
is parsed by several of those readers in turn (the gateway's does-it-parse check, its leak check and
usage reader, then the flow's analysis), so `parse` keeps the last few trees by source: the same text
is parsed once. Each caller gets its own copy of the kept tree (tree-sitter's shallow Tree.copy, which
it asks for before a tree is used on another thread); nothing here edits a tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

import tree_sitter_typescript
from tree_sitter import Language, Node, Parser, Tree

SDK_MODULE = "@llm-os/sdk"  # the one module app code may import


RECENT_TREES = 8  # trees kept by source; a tree costs ~40 bytes per source byte (a 5 KB app: 0.2 MB)
RECENT_MAX_BYTES = 64 * 1024  # larger sources (no generated app is near this) are not kept


@cache
def language(dialect: str) -> Language:
    grammar = tree_sitter_typescript
    return Language(grammar.language_tsx() if dialect == "tsx" else grammar.language_typescript())


@cache
def _parser(dialect: str) -> Parser:
    return Parser(language(dialect))


def parse(code: str | bytes, dialect: str = "ts") -> Tree:
    """TypeScript (or TSX with dialect="tsx") to a syntax tree; never raises, errors become nodes.
    The same source in the same dialect is parsed once (see the module's docstring)."""
    src = code.encode("utf-8") if isinstance(code, str) else code
    return _parse_source(src, dialect).copy() if len(src) <= RECENT_MAX_BYTES else _parser(dialect).parse(src)


@lru_cache(maxsize=RECENT_TREES)
def _parse_source(src: bytes, dialect: str) -> Tree:
    return _parser(dialect).parse(src)


def parse_afresh(code: str | bytes, dialect: str = "ts") -> Tree:
    """A new parse, bypassing the recent trees: what the analysis bench times."""
    return _parser(dialect).parse(code.encode("utf-8") if isinstance(code, str) else code)


forget_trees = _parse_source.cache_clear


def text(node: Node | None) -> str:
    raw = node.text if node is not None else None  # read once: each read copies the bytes out again
    return raw.decode("utf-8", "replace") if raw is not None else ""


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
