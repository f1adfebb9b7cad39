"""Located errors: every problem in a document names where it is, so the repair loop can feed it back.

A location is a path into the document (`view[2].value`) plus, for expressions, a 1-based column in the
expression text. The text form is what the model sees: `view[2].value: at column 7: unknown name 'bil'
(did you mean 'bill'?)`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class LocatedError:
    path: str
    message: str
    column: int = 0  # 1-based column inside an expression; 0 when the error is about the whole value
    unknown: str = ""  # for an unknown name: the name, and the close known one (autofix.py uses them)
    suggestion: str = ""

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        at = f"at column {self.column}: " if self.column else ""
        return f"{where}{at}{self.message}"


class DocumentError(ValueError):
    """Raised by the strict entry points when a document has errors; carries all of them."""

    def __init__(self, errors: Iterable[LocatedError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(error) for error in self.errors) or "invalid document")


def closest(name: str, known: Iterable[str]) -> str:
    """The known name most like `name`, or '' when none is close."""
    close = difflib.get_close_matches(name, sorted(set(known)), n=1, cutoff=0.6)
    return close[0] if close else ""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (did you mean 'bill'?)' when a known name is close, else ''."""
    close = closest(name, known)
    return f" (did you mean {close!r}?)" if close else ""
