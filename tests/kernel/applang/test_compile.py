"""Document -> TypeScript: deterministic, analysis-clean, and model text only ever inside string literals."""

from __future__ import annotations

import copy
import dataclasses
import json
import random
from typing import Any

import pytest

from llmos.kernel.analysis import analyse
from llmos.kernel.applang import DocumentError, check, compile_app
from llmos.kernel.applang.examples import load_examples
from llmos.kernel.sandbox import wasmcache
from llmos.kernel.sandbox.guest import Guest
from llmos.kernel.sandbox.transpile import transpile

HOSTILE = ["it's \"quoted\"", "back`tick ${x}", "*/ eval('1') /*", "</script>", "\u2028sep", "ünïcødé ✓",
           "\\", "'); ui.notify(1); ('", "Ελληνικά και 中文标签 долгий текст"]
APPS = [example for example in load_examples() if not example.unsupported]


def compiled(doc: dict[str, Any]) -> str:
    document, errors = check(doc)
    assert errors == [], errors
    assert document is not None
    app = compile_app(document)
    report = analyse(app.code, list(app.scopes))
    assert report.ok, (app.code, report.findings)
    transpile(app.code)
    return app.code


def test_output_shape_and_determinism() -> None:
    doc = APPS[0].app
    code = compiled(doc)
    assert code == compiled(copy.deepcopy(doc))
    assert code.startswith("import { ui, format } from '@llm-os/sdk';\n")
    assert code.count("import ") == 1 and "export default function App() {" in code
    assert "eval" not in code and "globalThis" not in code


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_stays_inside_string_literals(text: str) -> None:
    quoted = text.replace("\\", "\\\\").replace("'", "\\'")
    doc = {"title": text[:32], "state": [{"name": "note", "type": "text", "init": f"'{quoted}'"}],
           "view": [{"kind": "text", "label": text[:40]},
                    {"kind": "text", "value": f"'{quoted}' + note"},
                    {"kind": "button", "label": text[:40], "do": [{"notify": f"'{quoted}'"}]}]}
    code = compiled(doc)
    assert code.count("import ") == 1
    assert "ui.notify(1)" not in code.replace(json.dumps(text, ensure_ascii=False)[1:-1], "")


def test_scopes_are_what_the_code_uses() -> None:
    by_title = {example.app["title"]: example.app for example in APPS}
    scopes = {title: compile_app(check(doc)[0]).scopes for title, doc in by_title.items()}  # type: ignore[arg-type]
    assert scopes["Tip Calculator"] == ("ui:window",)
    assert scopes["Todo"] == ("storage:local", "ui:window")
    assert scopes["Countdown"] == ("notify", "timer", "ui:window")
    assert scopes["Passwords"] == ("clipboard:write", "ui:window")
    assert scopes["Clock"] == ("timer", "ui:window")  # a view showing the time refreshes itself


def test_invalid_documents_do_not_compile() -> None:
    document, _ = check({"title": "x", "state": [], "view": [{"kind": "text", "label": "ok"}]})
    assert document is not None
    with pytest.raises(DocumentError) as caught:
        compile_app(dataclasses.replace(document, title=" "))
    assert [str(e) for e in caught.value.errors] == ["title: the app needs a title"]


def test_actions_run_in_order_each_seeing_the_last(tmp_path) -> None:
    wasmcache.install(tmp_path)
    doc = {"title": "Order", "state": [{"name": "a", "type": "number"}, {"name": "b", "type": "number"}],
           "view": [{"kind": "text", "value": "text(a) + '/' + b"},
                    {"kind": "button", "label": "Go", "do": [{"set": "a", "to": "a + 1"},
                                                             {"set": "b", "to": "a * 10", "if": "a > 0"}]}]}
    guest = Guest(frozenset({"ui:window"}), {})
    frame = guest.load(transpile(compiled(doc)).code, 0)
    assert frame.tree is not None
    button = frame.tree["children"][1]
    guest.event(button["props"]["onClick"]["$handler"], [], 1)
    after = guest.flush(1).tree
    assert after is not None and after["children"][0]["children"] == ["1/10"]


def _strings(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and key != "kind":
                out.append((node, key))
            _strings(value, out)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, str):
                out.append((node, index))
            _strings(value, out)
    return out


def test_random_damage_gives_errors_or_clean_code() -> None:
    """Whatever a model writes into any string of any example, the result is either a list of located
    errors or code the analysis accepts: nothing reaches the code unchecked."""
    rng = random.Random(20261201)
    junk = [*HOSTILE, "x", "1 +", "eval('1')", "globalThis", "constructor", "__proto__", "a.b.c", "''",
            "todos[0]", "now()", "'#zz'", "1e999", "-0", "[]", "not", "setTodos", "App", "ui"]
    for _ in range(300):
        doc = copy.deepcopy(rng.choice(APPS).app)
        for container, key in rng.sample(_strings(doc, []), k=2):
            container[key] = rng.choice(junk)
        document, errors = check(doc)
        if errors:
            assert all(str(error) for error in errors)
            continue
        assert document is not None
        app = compile_app(document)
        report = analyse(app.code, list(app.scopes))
        assert report.ok, (json.dumps(doc), report.findings)


@pytest.mark.parametrize(("first", "second", "rows"), [("'Dune'", "''", "1"), ("''", "'Herbert'", "1"),
                                                       ("''", "' '", "0")])
def test_a_row_is_added_unless_all_its_texts_are_blank(tmp_path, first: str, second: str, rows: str) -> None:
    """A second field (an author, a gift's recipient) may be left empty; an empty row is never added."""
    wasmcache.install(tmp_path)
    doc = {"title": "Books", "state": [
        {"name": "title", "type": "text", "init": first}, {"name": "author", "type": "text", "init": second},
        {"name": "books", "type": "list", "fields": [{"name": "title", "type": "text"},
                                                     {"name": "author", "type": "text"}]}],
        "view": [{"kind": "button", "label": "Add", "do": [{"add": "books", "item": ["title", "author"]}]},
                 {"kind": "text", "value": "text(len(books))"}]}
    guest = Guest(frozenset({"ui:window"}), {})
    frame = guest.load(transpile(compiled(doc)).code, 0)
    assert frame.tree is not None
    guest.event(frame.tree["children"][0]["props"]["onClick"]["$handler"], [], 1)
    after = guest.flush(1).tree
    if rows == "0":
        assert after is None  # nothing changed, so nothing is drawn again
    else:
        assert after is not None and after["children"][1]["children"] == [rows]
