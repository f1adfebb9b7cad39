"""The expression grammar: what parses, how it groups, and where a bad expression is reported."""

from __future__ import annotations

import pytest

from llmos.kernel.applang import expressions as ex
from llmos.kernel.applang.translate import Scope, Typed, TypeProblem, translate
from llmos.kernel.applang.types import NUMBER, TEXT, list_of, scalar


def js(text: str, **names: str) -> str:
    scope = Scope({name: Typed(scalar(kind), name) for name, kind in names.items()})
    return translate(ex.parse_expression(text), scope).js


@pytest.mark.parametrize("text, expected", [
    ("1 + 2 * 3", "(1 + (2 * 3))"),
    ("(1 + 2) * 3", "((1 + 2) * 3)"),
    ("2 ** 3 ** 2", "Math.pow(2, Math.pow(3, 2))"),
    ("-2 ^ 2", "(-Math.pow(2, 2))"),
    ("10 - 4 - 3", "((10 - 4) - 3)"),
    ("1 < 2 and not false or true", "(((1 < 2) && (!false)) || true)"),
    ("1 = 1", "(1 === 1)"),
    ("if 1 > 2 then 'a' else 'b'", "((1 > 2) ? \"a\" : \"b\")"),
    ("1 > 2 ? 3 : 4", "((1 > 2) ? 3 : 4)"),
    ("'it''s'", None),
])
def test_precedence_and_grouping(text: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ex.ExprSyntaxError):
            ex.parse_expression(text)
        return
    assert js(text) == expected


@pytest.mark.parametrize("text, column, words", [
    ("bill +", 7, "ends too early"),
    ("(bill * 2", 10, "expected ')'"),
    ("bill tip", 6, "missing operator"),
    ("'open", 1, "never closed"),
    ("1 < 2 < 3", 7, "cannot be chained"),
    ("bill # 2", 6, "unexpected character '#'"),
    ("", 1, "empty"),
    ("round(1,", 9, "ends too early"),
    ("a.", 3, "field name"),
])
def test_syntax_errors_are_located(text: str, column: int, words: str) -> None:
    with pytest.raises(ex.ExprSyntaxError) as caught:
        ex.parse_expression(text)
    assert caught.value.column == column
    assert words in caught.value.message


@pytest.mark.parametrize("text, column, words", [
    ("bil * 2", 1, "unknown name 'bil' (did you mean 'bill'?)"),
    ("bill + note * 2", 8, "'*' needs numbers, but this is a text"),
    ("bill == note", 6, "use num(...) or text(...)"),
    ("roundd(bill)", 1, "unknown function 'roundd' (did you mean 'round'?)"),
    ("round", 1, "round is a function"),
    ("round(1, 2, 3)", 1, "takes 1 to 2 arguments"),
    ("fixed(note, 2)", 7, "use num(...)"),
    ("if bill then 1 else 2", 4, "condition must be a flag"),
    ("on and 1", 8, "'and' needs flags"),
    ("time(1, 'Narnia')", 9, "unknown time zone 'Narnia'"),
    ("bill.size", 5, "write len(...)"),
    ("[1, 'a']", 1, "all be numbers, all texts"),
])
def test_type_errors_are_located_and_say_what_to_do(text: str, column: int, words: str) -> None:
    scope = Scope({"bill": Typed(NUMBER, "bill"), "note": Typed(TEXT, "note"),
                   "on": Typed(scalar("flag"), "on")})
    with pytest.raises(TypeProblem) as caught:
        translate(ex.parse_expression(text), scope)
    assert caught.value.col == column
    assert words in caught.value.message


def test_list_columns_rows_and_functions_are_typed() -> None:
    todos = list_of((("text", TEXT), ("done", scalar("flag")), ("cost", NUMBER)))
    scope = Scope({"todos": Typed(todos, "todos"), "i": Typed(NUMBER, "i")})

    def typed(text: str) -> Typed:
        return translate(ex.parse_expression(text), scope)

    assert typed("count(todos.done)").type == NUMBER
    assert typed("sum(todos.cost)").js == "_sum(todos.map((_r) => _r.cost))"
    assert typed("todos[i].text").js == "(todos[Math.floor(i)] ?? { text: '', done: false, cost: 0 }).text"
    assert typed("pick(todos).cost").type == NUMBER
    assert typed("shuffle(todos)").type == todos
    assert typed("join(todos.text, '; ')").type == TEXT
    with pytest.raises(TypeProblem, match="no field 'txt' \\(did you mean 'text'\\?\\)"):
        typed("todos.txt")
    with pytest.raises(TypeProblem, match="several fields"):
        typed("sum(todos)")


def test_strings_are_reemitted_as_json_literals_never_raw() -> None:
    hostile = "'\\'); ui.notify(1); //' + '</script>' + '`${x}`' + '\u2028'"
    out = js(hostile)
    assert "ui.notify(1)" in out  # as text inside a literal ...
    assert out.count('"') == 8  # ... four JSON string literals, nothing outside them
    assert "\\u2028" in out


def test_names_and_calls_are_collected() -> None:
    node = ex.parse_expression("round(a + b.c[i], 2) + max(d)")
    assert ex.names_in(node) == {"a", "b", "i", "d"}
    assert ex.calls_in(node) == {"round", "max"}
