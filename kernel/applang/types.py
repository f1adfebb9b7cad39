"""The value types of the app language, and the words errors use for them.

Scalars are number, text and flag. A `list` is a list of records with declared fields; `values` is a
plain list of scalars (a column such as `todos.text`, a literal such as ['Heads', 'Tails'], or the result
of words()). A `record` is one row of a list. A `drawing` is what a paint canvas holds.
"""

from __future__ import annotations

from dataclasses import dataclass

SCALARS = ("number", "text", "flag")


@dataclass(frozen=True)
class Type:
    kind: str  # number, text, flag, list, values, record, drawing, any
    fields: tuple[tuple[str, Type], ...] = ()  # list and record
    elem: Type | None = None  # values

    @property
    def scalar(self) -> bool:
        return self.kind in SCALARS

    @property
    def listlike(self) -> bool:
        return self.kind in ("list", "values")

    def field(self, name: str) -> Type | None:
        return next((kind for field, kind in self.fields if field == name), None)

    def field_names(self) -> list[str]:
        return [name for name, _ in self.fields]

    def row(self) -> Type:
        """The record type of one row of this list."""
        return Type("record", self.fields)

    def single(self) -> tuple[str, Type] | None:
        """The only field of a one-field list, which can stand for its values (pick(names))."""
        return self.fields[0] if self.kind == "list" and len(self.fields) == 1 else None

    def element(self) -> Type | None:
        """The scalar a list-like holds: values' element, or a one-field list's field type."""
        if self.kind == "values":
            return self.elem
        single = self.single()
        return single[1] if single else None

    def describe(self) -> str:
        if self.kind == "number":
            return "a number"
        if self.kind == "text":
            return "a text"
        if self.kind == "flag":
            return "a flag (true/false)"
        if self.kind == "list":
            return "a list of rows (" + ", ".join(f"{n}: {t.kind}" for n, t in self.fields) + ")"
        if self.kind == "record":
            return "one row (" + ", ".join(f"{n}: {t.kind}" for n, t in self.fields) + ")"
        if self.kind == "values":
            return f"a list of {self.elem.kind if self.elem else 'value'}s"
        if self.kind == "drawing":
            return "a drawing"
        return "a value"


NUMBER = Type("number")
TEXT = Type("text")
FLAG = Type("flag")
DRAWING = Type("drawing")
ANY = Type("any")


def scalar(kind: str) -> Type:
    return {"number": NUMBER, "text": TEXT, "flag": FLAG}[kind]


def values_of(elem: Type) -> Type:
    return Type("values", elem=elem)


def list_of(fields: tuple[tuple[str, Type], ...]) -> Type:
    return Type("list", fields)


# JS literal of each scalar's empty value: what a missing field or a cleared variable becomes.
EMPTY_JS = {"number": "0", "text": "''", "flag": "false"}
