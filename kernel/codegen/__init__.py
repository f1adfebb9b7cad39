"""Spec -> code: the bounded app spec a small model fills, and the deterministic generator that turns it
into SDK TypeScript plus the capability manifest the code actually needs."""

from __future__ import annotations

from llmos.kernel.analysis.tsparse import SyntaxProblem, syntax_problems
from llmos.kernel.analysis.usage import used_capabilities
from llmos.kernel.caps.manifest import Manifest, Request
from llmos.kernel.codegen.generate import generate
from llmos.kernel.codegen.spec import SCHEMA, AppSpec, SpecError, StateVar, Widget, normalise


def build(spec: AppSpec) -> tuple[str, Manifest]:
    """Code for a normalised spec and the manifest read back from that code (all required)."""
    code = generate(spec)
    usage = used_capabilities(code)
    return code, Manifest(tuple(Request(scope) for scope in sorted(usage.scopes)))


__all__ = ["SCHEMA", "AppSpec", "SpecError", "StateVar", "SyntaxProblem", "Widget", "build", "generate",
           "normalise", "syntax_problems"]
