"""What analysis reports: located findings with stable rule ids, so the repair loop, the CLI and the
corpus tests all speak the same language."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Stable, kebab-case rule ids. Changing one breaks corpus headers and any tooling that filters on it.
RULES: dict[str, str] = {
    "syntax-error": "the code does not parse",
    "no-eval": "eval in any form",
    "no-function-constructor": "the Function constructor, directly or through .constructor",
    "no-string-timer": "a timer given a string of code",
    "no-dynamic-import": "import() or import.meta",
    "import-not-allowed": "an import other than '@llm-os/sdk', or require()",
    "no-with": "a with statement",
    "no-proto": "__proto__",
    "no-prototype-tampering": "changing a prototype",
    "no-computed-sdk-access": "computed access to (or escape of) an SDK object",
    "encoded-payload": "an encoded payload (base64, hex, char codes, escapes, atob)",
    "no-global-object": "globalThis, window, self or global",
    "undeclared-capability": "a capability the code uses but the manifest does not declare",
}


@dataclass(frozen=True, order=True)
class Finding:
    """One rejection reason at a 1-based line and column."""

    line: int
    col: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.col}: {self.rule}: {self.message}"


@dataclass
class Report:
    """The verdict for one piece of code. `capabilities` maps each capability the code uses to the
    location of its first use, whether or not the manifest declares it."""

    findings: list[Finding] = field(default_factory=list)
    capabilities: dict[str, tuple[int, int]] = field(default_factory=dict)
    lines: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def rules(self) -> list[str]:
        return sorted({finding.rule for finding in self.findings})

    def diagnostics(self) -> str:
        """The findings as plain located lines: what the repair loop feeds back to the generator."""
        return "\n".join(str(finding) for finding in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "findings": [
                {"rule": f.rule, "line": f.line, "col": f.col, "message": f.message} for f in self.findings
            ],
            "capabilities": sorted(self.capabilities),
        }
