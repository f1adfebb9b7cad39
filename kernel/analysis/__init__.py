"""Static analysis of generated app code: tree-sitter, deterministic rules, no LLM in the loop.

    report = analyse(code, manifest)   # manifest: Manifest, list of scopes, or the gateway's dict
    report.ok, report.findings, report.capabilities

Which scope each SDK member needs comes from kernel.caps.table; Manifest, Policy and describe live in
kernel.caps and are re-exported here for callers that import them with the analysis.
"""

from __future__ import annotations

from typing import Any

from llmos.kernel.caps.manifest import Manifest, ManifestError, Request, is_scope
from llmos.kernel.caps.policy import Policy
from llmos.kernel.caps.table import describe

from .findings import RULES, Finding, Report
from .rules import PayloadLimits, check_tree
from .tsparse import parse, syntax_errors

__all__ = ["RULES", "Finding", "Manifest", "ManifestError", "PayloadLimits", "Policy", "Report", "Request",
           "analyse", "describe", "is_scope"]

MAX_SYNTAX_FINDINGS = 10


def analyse(code: str, manifest: Any = None, *, dialect: str = "ts",
            limits: PayloadLimits | None = None) -> Report:
    """Check `code` (TypeScript using '@llm-os/sdk'). With a manifest, also reject any capability the code
    uses that the manifest does not declare. A malformed manifest raises ManifestError."""
    declared = Manifest.parse(manifest) if manifest is not None else None
    src = code.encode("utf-8")
    tree = parse(src, dialect)
    report = check_tree(tree.root_node, src, declared, limits or PayloadLimits(), dialect)
    errors = [Finding(p.line, p.column, "syntax-error", p.message)
              for p in syntax_errors(tree.root_node, src, MAX_SYNTAX_FINDINGS)]
    if errors:
        report.findings = sorted(set(report.findings) | set(errors))
    return report
