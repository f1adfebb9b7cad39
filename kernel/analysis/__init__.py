"""Static analysis of generated app code: tree-sitter, deterministic rules, no LLM in the loop.

    report = analyse(code, manifest)   # manifest: Manifest, list of scopes, or the gateway's dict
    report.ok, report.findings, report.capabilities
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import tree_sitter
import tree_sitter_typescript

from .capabilities import Manifest, ManifestError, Policy, Request, describe, is_scope
from .findings import RULES, Finding, Report
from .rules import Limits, check_tree

__all__ = ["RULES", "Finding", "Limits", "Manifest", "ManifestError", "Policy", "Report", "Request",
           "analyse", "describe", "is_scope"]

MAX_SYNTAX_FINDINGS = 10


@lru_cache(maxsize=2)
def _parser(dialect: str) -> tree_sitter.Parser:
    grammar = tree_sitter_typescript
    language = grammar.language_tsx() if dialect == "tsx" else grammar.language_typescript()
    return tree_sitter.Parser(tree_sitter.Language(language))


def _syntax_errors(root: tree_sitter.Node, report_into: list[Finding], src: bytes) -> None:
    """ERROR and MISSING nodes, outermost first, at most MAX_SYNTAX_FINDINGS."""
    stack = [root]
    lines = src.split(b"\n")
    while stack and len(report_into) < MAX_SYNTAX_FINDINGS:
        node = stack.pop()
        if node.is_error or node.is_missing:
            row, byte_col = node.start_point
            col = len(lines[row][:byte_col].decode("utf-8", "replace")) + 1 if row < len(lines) else 1
            if node.is_missing:
                message = f"missing {node.type!r}"
            else:
                snippet = node.text.decode("utf-8", "replace").split("\n")[0][:40] if node.text else ""
                message = f"unexpected {snippet!r}" if snippet else "unexpected input"
            report_into.append(Finding(row + 1, col, "syntax-error", message))
            continue
        if node.has_error:
            stack.extend(reversed(node.children))


def analyse(code: str, manifest: Any = None, *, dialect: str = "ts", limits: Limits | None = None) -> Report:
    """Check `code` (TypeScript using '@llm-os/sdk'). With a manifest, also reject any capability the code
    uses that the manifest does not declare. A malformed manifest raises ManifestError."""
    declared = Manifest.parse(manifest) if manifest is not None else None
    src = code.encode("utf-8")
    tree = _parser(dialect).parse(src)
    report = check_tree(tree.root_node, src, declared, limits or Limits())
    if tree.root_node.has_error:
        errors: list[Finding] = []
        _syntax_errors(tree.root_node, errors, src)
        report.findings = sorted(set(report.findings) | set(errors))
    return report
