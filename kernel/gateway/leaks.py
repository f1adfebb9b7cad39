"""Does generated code spell out kernel prompt text, even cut into pieces?

Why not a substring test: a model can quote the system prompt in 20-character fragments, one string
literal each, and the app shows them joined; no literal holds a whole sentence. So the check reads what
the app can show: every string literal and the text of every template, in source order, lower-cased
and squashed to letters and digits (spaces, punctuation and case changes cannot hide anything, and a
fragment may be cut anywhere, mid-word included). Each run of WINDOW squashed characters that also
occurs in a squashed prompt marks its characters as quoted; when at least THRESHOLD characters are
marked, the code quotes that prompt. Because runs are looked for in the joined stream, fragments kept in
order are seen however small they are, and a fragment of WINDOW or more characters is seen wherever it
stands, also when the app reorders the fragments at run time.

Deterministic and linear in the code's size. The limit: fragments shorter than WINDOW squashed
characters that are stored out of order and reordered at run time are not seen as quotes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache

from tree_sitter import Node

from llmos.kernel.analysis.folding import unescape
from llmos.kernel.analysis.tsparse import location, parse, text

# Squashed characters, about three words: longer than a phrase an app shares by chance ("keep the app").
WINDOW = 16
# Squashed characters marked as quoted, about twenty words: more than an app that borrows a few of the
# prompt's phrases reaches (tests/kernel/gateway/test_leaks.py has one at 80), under a sentence and a half.
THRESHOLD = 100


@dataclass(frozen=True)
class Leak:
    """`chars` squashed characters of prompt `source` are spelt by literals from `line`:`column` on."""

    line: int
    column: int
    source: str
    chars: int

    def __str__(self) -> str:
        return (f"{self.line}:{self.column}: prompt-leak: the strings from here on spell {self.chars} "
                f"characters of {self.source}")


def squash(value: str) -> str:
    """Lower-case letters and digits only: the form in which quotes are compared."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", value).casefold() if ch.isalnum())


@cache
def _windows(prompt: str) -> frozenset[str]:
    flat = squash(prompt)
    return frozenset(flat[i:i + WINDOW] for i in range(len(flat) - WINDOW + 1))


def literal_pieces(code: str) -> list[tuple[str, tuple[int, int]]]:
    """The text of every string literal and template part, squashed, in source order, with its place."""
    src = code.encode("utf-8")
    lines = src.split(b"\n")
    return [(squash(piece), location(lines, node)) for piece, node in _pieces(parse(src).root_node)]


def _pieces(root: Node) -> Iterator[tuple[str, Node]]:
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "string":
            if node.parent is None or node.parent.type not in ("import_statement", "export_statement"):
                yield unescape(text(node)[1:-1]), node  # a module name is never shown
        elif node.type in ("string_fragment", "escape_sequence") and node.parent is not None \
                and node.parent.type == "template_string":
            yield unescape(text(node)), node
        else:
            stack.extend(reversed(node.children))


def _covered(stream: str, windows: frozenset[str]) -> bytearray:
    """1 for each character of `stream` inside a WINDOW-long run that the prompt also has."""
    covered = bytearray(len(stream))
    for i in range(len(stream) - WINDOW + 1):
        if stream[i:i + WINDOW] in windows:
            covered[i:i + WINDOW] = b"\x01" * WINDOW
    return covered


def reassembled(code: str, prompts: Mapping[str, str]) -> list[Leak]:
    """One Leak per prompt (name -> text) that the code's strings spell THRESHOLD characters of."""
    pieces = literal_pieces(code)
    stream = "".join(piece for piece, _ in pieces)
    starts: list[int] = []
    position = 0
    for piece, _ in pieces:
        starts.append(position)
        position += len(piece)
    leaks = []
    for name, prompt in prompts.items():
        covered = _covered(stream, _windows(prompt))
        count = sum(covered)
        if count >= THRESHOLD:
            first = covered.index(1)
            index = max(i for i, start in enumerate(starts) if start <= first and len(pieces[i][0]) > 0)
            line, column = pieces[index][1]
            leaks.append(Leak(line, column, name, count))
    return leaks
