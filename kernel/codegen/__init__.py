"""Reading a capable model's answer (direct.py): the JSON manifest header and the SDK TypeScript after it.

Small models do not write code: they fill the app language (kernel/applang), whose compiler writes the
TypeScript. The syntax check both paths share is the analysis's (kernel/analysis/tsparse.py)."""

from __future__ import annotations

from llmos.kernel.analysis.tsparse import SyntaxProblem, syntax_problems
from llmos.kernel.codegen.direct import AnswerError, DirectAnswer, split_answer

__all__ = ["AnswerError", "DirectAnswer", "SyntaxProblem", "split_answer", "syntax_problems"]
