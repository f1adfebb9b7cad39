"""Where in the source a name can start, so the rules' walk reads the text of an identifier or a property
name only at those offsets.

Why: a third of the nodes the walk visits are identifiers and property names, and reading a node's text
costs several times what visiting it does, yet only a few names matter (eval, globalThis, the names bound
to the SDK, …). An offset set is a superset test: every node whose text is a watched name starts at one
of the offsets, so a node not starting at one needs no look (the rule still reads the text of the nodes
that do, and decides exactly as before)."""

from __future__ import annotations

from collections.abc import Iterable

# Bytes that can occur in a name before its first backslash: tree-sitter's identifier excludes
# whitespace, controls and JavaScript's punctuation; what is left in ASCII is letters, digits, _ and $.
_NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$") | frozenset(
    range(0x80, 0x100))


def starts(src: bytes, words: Iterable[str]) -> set[int]:
    """Every offset at which one of `words` (as UTF-8) occurs, overlapping occurrences included."""
    found: set[int] = set()
    for word in words:
        raw = word.encode("utf-8")
        if not raw:
            continue
        at = src.find(raw)
        while at >= 0:
            found.add(at)
            at = src.find(raw, at + 1)
    return found


def escape_starts(src: bytes) -> set[int]:
    """Every offset from which a run of name bytes reaches a backslash: where a name spelt with an
    escape (`\\u0065val`, `constr\\u0075ctor`) can start."""
    found: set[int] = set()
    at = src.find(b"\\")
    while at >= 0:
        start = at
        while start > 0 and src[start - 1] in _NAME_BYTES:
            start -= 1
        found.update(range(start, at + 1))
        at = src.find(b"\\", at + 1)
    return found


def locatable(name: str) -> bool:
    """Whether a name's text finds its nodes by bytes. Not an empty name (the text of a node the parser
    inserted to recover from an error, which starts anywhere), nor one read with a replacement
    character (the source was not valid UTF-8 there, so several byte spellings read the same)."""
    return name != "" and "\ufffd" not in name
