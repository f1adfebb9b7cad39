"""One parser and one syntax-error walker: the gateway's does-it-parse check and the analysis report
the same located problems."""

from __future__ import annotations

from llmos.kernel.analysis import analyse
from llmos.kernel.analysis.tsparse import parse, syntax_problems

BROKEN = "import { ui } from '@llm-os/sdk';\nconst s = 'héllo'; const x = ;\nfunction f( {\n"


def test_problems_are_located_in_characters() -> None:
    problems = syntax_problems(BROKEN)
    assert problems and all(p.line >= 2 for p in problems)
    assert str(problems[0]).startswith(f"{problems[0].line}:{problems[0].column}: ")
    findings = [(f.line, f.col, f.message) for f in analyse(BROKEN).findings if f.rule == "syntax-error"]
    assert sorted(findings) == sorted((p.line, p.column, p.message) for p in problems)


def test_clean_code_has_no_problems_and_limits_hold() -> None:
    assert syntax_problems("const a: number = 1;\n") == []
    three = "const = ;\nlet = ;\nvar = ;\n"
    assert [str(p) for p in syntax_problems(three)] == ["1:1: unexpected 'const ='", "2:5: unexpected '='",
                                                        "3:1: unexpected 'var ='"]
    assert len(syntax_problems(three, limit=2)) == 2
    assert not parse("const a = <b>x</b>;", "tsx").root_node.has_error
