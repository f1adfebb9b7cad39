"""Adapting a close example: its document with holes (slots) that a model fills for a new request.

Why: a 270M base model copies a nearby example well but cannot be trusted to write a structure of
its own. When retrieval finds an example close to the request, the example's structure is kept as
it is (names, widgets, formulas, timers, labels: everything that makes it work) and only what a
request changes is left to the model: the title, city names, the contents of starting lists (cards,
habits, players), starting values and slider bounds. Whatever the model writes there, the document
stays one that worked; a filled value that breaks a check is put back to the example's own
(`settle`).

A slot is never a name, a formula constant (`/ 100`), a timer interval, a condition, a text that is
compared with another (a mode name), a preset button's value, a label or a display text. Measured
with the real model (docs/gateway.md): it wrote request words into labels ("Settling an Argument"
on a coin's Flip button), its own numbers into texts tied to constants, and half-sentences into
display texts, and each of those turned a working example into a wrong app.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from llmos.kernel.applang import expressions as ex
from llmos.kernel.applang.errors import LocatedError
from llmos.kernel.applang.functions import FUNCTIONS
from llmos.kernel.applang.schema import ACTION_KEY_KINDS, KEY_KINDS, MAX_TITLE

MAX_SLOTS = 24
MAX_TEXT = 40
MIN_LETTERS = 3  # shorter display texts (units such as 'h', words such as 'of') stay as written
NUMBER = re.compile(r"^-?\d{1,7}(?:\.\d{1,3})?$")
# a date a state starts at ('12-25' for a holiday, '2027-01-01' for an event): a slot of its own,
# so "days to new year's day" adapts a Christmas countdown
DATE = re.compile(r"^(?:\d{4}-)?(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])$")
_QUOTED_DATE = re.compile(r"^'((?:\d{4}-)?\d\d-\d\d)'$")
_MONTH_DAY = '("0" [1-9] | "1" [0-2]) "-" ("0" [1-9] | [12] [0-9] | "3" [01])'
# keys whose whole value may be a number slot when it is one number: starting values and bounds (not
# the `to` of a preset button: a small model writes the request's number into every one of them)
NUMBER_KEYS = frozenset({"init", "min", "max", "step"})
# expression keys whose string literals may be slots (city names, list contents)
TEXT_KEYS = frozenset({"value", "row", "to", "item", "init"})
ZONE_ARGS = {name: index for name, fn in FUNCTIONS.items() for index, param in enumerate(fn.params)
             if param.startswith("zone")}
_FORBIDDEN = ('"', "\\", "'")
_DIGIT = re.compile(r"[0-9]")


@dataclass(frozen=True)
class Slot:
    kind: str  # "text": a JSON string's whole text; "quoted": a text inside an expression's quotes;
    #            "number": an expression that is one number; "date": a quoted date a state starts at
    original: str
    path: str  # the document value it sits in ("view[2].label"), so an error there can undo it
    limit: int = MAX_TEXT
    digits: bool = False  # whether the value may hold digits: only a title's may. A number in a label
    #                       or a display text is tied to a constant the slot cannot change ("+5",
    #                       "' of 10000 steps'"), so such texts are not slots, and the model's
    #                       texts get no numbers of their own.

    @property
    def closer(self) -> str:
        """The character that ends the slot in the document text."""
        return "'" if self.kind in ("quoted", "date") else '"'

    def grammar(self) -> str:
        """A llama.cpp GBNF grammar for the slot's value, its closing character and a few characters
        more. Why the tail: a tokenizer merges the closing quote with what follows (`",` `"},`); a
        grammar that ended at the quote would forbid the token the model wants and make it ramble on.
        The caller stops at the closing character (`closer`) and drops the tail. The value has no
        quotes or backslashes (they would end or escape the string), no control characters and no
        leading space."""
        tail = '[^\\x00-\\x1f]{0,8}'
        if self.kind == "number":
            return f'root ::= "-"? [0-9]{{1,7}} ("." [0-9]{{1,3}})? "\\"" {tail}'
        if self.kind == "date":
            year = '[0-9]{4} "-" ' if len(self.original) > 5 else ""
            return f'root ::= {year}{_MONTH_DAY} "\'" {tail}'
        banned = "\"\\\\\\x00-\\x1f" + ("'" if self.kind == "quoted" else "") + ("" if self.digits else "0-9")
        end = "\"'\"" if self.kind == "quoted" else '"\\""'
        return f"root ::= [^ {banned}] [^{banned}]{{0,{self.limit - 1}}} {end} {tail}"

    def accepts(self, value: str) -> bool:
        """Whether a filled value fits the slot (the grammar's rules, for answers made without it)."""
        if self.kind == "number":
            return bool(NUMBER.match(value))
        if self.kind == "date":
            return bool(DATE.match(value)) and len(value) == len(self.original)
        banned = _FORBIDDEN if self.kind == "quoted" else _FORBIDDEN[:2]
        return (0 < len(value) <= self.limit and value == value.strip() and value.isprintable()
                and not any(ch in value for ch in banned) and (self.digits or not _DIGIT.search(value)))


@dataclass(frozen=True)
class Template:
    """An example's document text cut at its slots: pieces[0] slot[0] pieces[1] ... pieces[-1]."""

    pieces: tuple[str, ...]
    slots: tuple[Slot, ...]

    def text(self, values: list[str] | None = None) -> str:
        chosen = [s.original for s in self.slots] if values is None else values
        out = [self.pieces[0]]
        for value, piece in zip(chosen, self.pieces[1:], strict=True):
            out += [value, piece]
        return "".join(out)

    def prefix(self, values: list[str]) -> str:
        """The document text up to the next slot to fill, after `values` (the slots filled so far)."""
        out = [self.pieces[0]]
        for value, piece in zip(values, self.pieces[1:], strict=False):
            out += [value, piece]
        return "".join(out)

    def settle(self, values: list[str], errors_of: Any) -> tuple[dict[str, Any], list[str]]:
        """The filled document, with every slot whose value a check rejects put back to the example's.
        `errors_of(document) -> [LocatedError]`; returns the document and the values it used."""
        values = [v if s.accepts(v) else s.original for s, v in zip(self.slots, values, strict=True)]
        for _ in range(3):
            document = json.loads(self.text(values))
            errors: list[LocatedError] = errors_of(document)
            if not errors:
                return document, values
            bad = [i for i, slot in enumerate(self.slots) if values[i] != slot.original
                   and any(_under(slot.path, error.path) for error in errors)]
            if not bad:
                break
            for i in bad:
                values[i] = self.slots[i].original
        values = [s.original for s in self.slots]
        return json.loads(self.text(values)), values


def _under(slot_path: str, error_path: str) -> bool:
    """Whether an error at `error_path` may come from a slot at `slot_path` (same value, or an error
    about the whole document or an enclosing part)."""
    return (not error_path or error_path == "document" or slot_path == error_path
            or slot_path.startswith(error_path + ".") or slot_path.startswith(error_path + "["))


# -- finding the slots ----------------------------------------------------------------------------------
def _string_spans(text: str, node: ex.Expr, counts: dict[str, int], key: str
                  ) -> Iterator[tuple[int, int, bool]]:
    """1-based (start, end, is_content) of the words inside each string literal that may change: a city
    or zone name, or an item of a list's starting rows (its content: cards, habits, players). Never a
    compared text, a text written anywhere else in the document, or one without a few letters (a
    separator such as ' : ' or a time such as '07:00'). Spaces around the words stay."""
    raw = {token.col: token.text for token in ex.tokenize(text) if token.kind == "str"}

    def visit(item: ex.Expr, free: bool, content: bool) -> Iterator[tuple[int, int, bool]]:
        if isinstance(item, ex.Str):
            inside = raw.get(item.col, "")[1:-1]
            core = inside.strip()
            if (free and inside == item.value and counts.get(inside, 0) == 1 and len(core) <= MAX_TEXT
                    and sum(ch.isalpha() for ch in core) >= MIN_LETTERS and not core.startswith("#")
                    and (content or not _DIGIT.search(core))
                    and not any(ch in inside for ch in _FORBIDDEN)):
                start = item.col + 1 + (len(inside) - len(inside.lstrip()))  # 1-based, inside the quotes
                yield start, start + len(core), content
            return
        if isinstance(item, ex.Binary) and item.op in ("==", "!=", "<", "<=", ">", ">="):
            return
        if isinstance(item, ex.Call):
            zone_at = ZONE_ARGS.get(item.name)
            for index, arg in enumerate(item.args):
                yield from visit(arg, index == zone_at, False)
            return
        if isinstance(item, ex.ListLit) and key == "init":
            for child in item.items:
                yield from visit(child, True, True)
            return
        for child in ex.children(item):
            yield from visit(child, free, content)

    yield from visit(node, False, False)


def _literal_counts(document: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, key, value in _strings(document, ""):
        if key in KEY_KINDS or key in ACTION_KEY_KINDS or key in ("init", "every", "while"):
            try:
                tokens = ex.tokenize(value)
            except ex.ExprSyntaxError:
                continue
            for token in tokens:
                if token.kind == "str":
                    counts[str(token.value)] = counts.get(str(token.value), 0) + 1
    return counts


def _strings(value: Any, path: str, key: str = "") -> Iterator[tuple[str, str, str]]:
    """(path, key, text) of every string in a document, in document order."""
    if isinstance(value, dict):
        for k, item in value.items():
            yield from _strings(item, f"{path}.{k}" if path else k, k)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]", key)
    elif isinstance(value, str):
        yield path, key, value


def _slots_of(path: str, key: str, value: str, counts: dict[str, int]) -> list[tuple[int, int, Slot]]:
    """The slots inside one string value: (start, end, slot) with offsets into the value."""
    if key == "title":
        return [(0, len(value), Slot("text", value, path, MAX_TITLE, digits=True))] if _plain(value) else []
    if key in NUMBER_KEYS and NUMBER.match(value.strip()) and value == value.strip():
        return [(0, len(value), Slot("number", value, path))]
    date = _QUOTED_DATE.match(value) if key == "init" else None
    if date and DATE.match(date.group(1)):
        return [(1, len(value) - 1, Slot("date", date.group(1), path))]
    if key not in TEXT_KEYS:
        return []
    try:
        node = ex.parse_expression(value)
    except ex.ExprSyntaxError:
        return []
    return [(start - 1, end - 1, Slot("quoted", value[start - 1:end - 1], path, digits=content))
            for start, end, content in _string_spans(value, node, counts, key)]


def _plain(text: str) -> bool:
    return bool(text.strip()) and '"' not in text and "\\" not in text and text.isprintable()


_MARK = "\u27e6{}\u27e7"
_MARKS = re.compile("\u27e6(\\d+)\u27e7")


def template(document: dict[str, Any], max_slots: int = MAX_SLOTS) -> Template:
    """The template of a (valid, canonical) document: its compact text cut at its first `max_slots`
    slots, in document order."""
    from llmos.kernel.applang.repair import compact  # repair imports this module's users

    if "\u27e6" in json.dumps(document, ensure_ascii=False):
        return Template((compact(document),), ())
    counts = _literal_counts(document)
    marked = copy.deepcopy(document)
    slots: list[Slot] = []
    for path, key, value in list(_strings(document, "")):
        found = _slots_of(path, key, value, counts)[: max(0, max_slots - len(slots))]
        if not found:
            continue
        out, last = [], 0
        for start, end, slot in found:
            out += [value[last:start], _MARK.format(len(slots))]
            slots.append(slot)
            last = end
        out.append(value[last:])
        _assign(marked, path, "".join(out))
    text = compact(marked)
    parts = _MARKS.split(text)
    pieces = tuple(parts[0::2])
    order = [int(number) for number in parts[1::2]]
    return Template(pieces, tuple(slots[i] for i in order))


_STEP = re.compile(r"([A-Za-z]+)|\[(\d+)\]")


def _assign(document: Any, path: str, value: str) -> None:
    steps: list[Any] = [m.group(1) or int(m.group(2)) for m in _STEP.finditer(path)]
    node = document
    for step in steps[:-1]:
        node = node[step]
    node[steps[-1]] = value


# -- the whole template as a JSON schema (for a server that fills one answer at a time) ---------------
# Patterns are written for two readers: a standard regex engine (vLLM, OpenAI, llama-server's own
# converter) and llama-cpp-python's schema-to-grammar converter (llama_cpp/llama_grammar.py, 0.3.36),
# which copies a `\x` escape into its GBNF unchanged unless x is one of ()[]{}?*+| (`\.`, `\ `, `\-`,
# `\#`, `\&`, `\~`, `\^`, `\$` are not GBNF escapes: llama.cpp rejects the grammar and that server
# dies). So literal text is escaped only with `\` before ()[]{}?*+|, and with a character class for
# . $ ^; everything else is itself.
_IN_LITERAL = {**{ch: "\\" + ch for ch in "()[]{}?*+|"}, ".": "[.]", "$": "[$]", "^": "[\\x5e]"}
# a string with a quote, a backslash or a control character is escaped in JSON text, and the converter
# writes such characters into its grammar unescaped (a const holding `"` even makes a grammar llama.cpp
# rejects); one beyond the BMP becomes two surrogates there. Such a string is held to its length only.
_UNWRITABLE = re.compile('["\\\\\\x00-\\x1f\U00010000-\U0010ffff]')


def _literal(text: str) -> str:
    """`text` as a regex that matches only itself, in the escapes both readers share (above)."""
    return "".join(_IN_LITERAL.get(ch, ch) for ch in text)


def _slot_pattern(slot: Slot) -> str:
    """The slot's value as a regex: what `Slot.grammar` admits (a text without a leading or trailing
    space, digits only in a title, real months and days), in converter-safe syntax."""
    if slot.kind == "number":
        return "-?[0-9]{1,7}([.][0-9]{1,3})?"
    if slot.kind == "date":
        year = "[0-9]{4}-" if len(slot.original) > 5 else ""
        return f"{year}(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    banned = '"\\\\\\x00-\\x1f' + ("'" if slot.kind == "quoted" else "") + ("" if slot.digits else "0-9")
    edge = f"[^ {banned}]"
    if slot.limit < 2:
        return edge
    return f"{edge}([^{banned}]{{0,{slot.limit - 2}}}{edge})?"


def template_schema(shape: Template) -> dict[str, Any]:
    """A JSON schema that only the template's document with its slots filled matches: every fixed value
    a const, every value holding slots a pattern, every array of fixed length. A string that JSON
    escapes (`_UNWRITABLE`) is held to its length instead (llama-cpp-python's converter writes the
    string rule's escapes correctly), and values_in still rejects an answer that changed it."""
    marked = json.loads(shape.text([_MARK.format(i) for i in range(len(shape.slots))]))

    def build(value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return {"type": "object", "properties": {k: build(v) for k, v in value.items()},
                    "required": list(value), "additionalProperties": False}
        if isinstance(value, list):
            return {"type": "array", "prefixItems": [build(v) for v in value], "items": False,
                    "minItems": len(value), "maxItems": len(value)}
        if isinstance(value, str) and _MARKS.search(value):
            parts = _MARKS.split(value)
            fixed = "".join(parts[0::2])
            if _UNWRITABLE.search(fixed):
                room = sum(shape.slots[int(i)].limit for i in parts[1::2])
                return {"type": "string", "minLength": len(fixed), "maxLength": len(fixed) + room}
            pattern = "".join(_literal(part) if i % 2 == 0 else _slot_pattern(shape.slots[int(part)])
                              for i, part in enumerate(parts))
            return {"type": "string", "pattern": f"^{pattern}$"}
        if isinstance(value, str) and _UNWRITABLE.search(value):
            return {"type": "string", "minLength": len(value), "maxLength": len(value)}
        return {"const": value}

    return build(marked)


def values_in(shape: Template, text: str) -> list[str] | None:
    """The slot values of a document text made from the template (compact, in the grammar's key
    order), or None when the text is not the template filled."""
    pattern = "".join(re.escape(piece) if i % 2 == 0 else "(.*?)"
                      for i, piece in enumerate(_interleave(shape.pieces)))
    found = re.fullmatch(pattern, text, re.S)
    return list(found.groups()) if found else None


def _interleave(pieces: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for piece in pieces[:-1]:
        out += [piece, ""]
    return [*out, pieces[-1]]
