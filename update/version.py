"""OS version strings, ordered exactly as systemd-boot orders boot entries (strverscmp_improved from
systemd's src/fundamental/string-util-fundamental.c), so that "newer" here means newer at the boot menu.
"""

from __future__ import annotations

import re

# What may appear in a version; it becomes part of a loader entry's file name, so no '+' (the boot
# counter's marker), no '/' and no spaces.
VERSION_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z.~^_-]{0,63}")


RULE = ("letters, digits and . ~ ^ _ - (no '+', no spaces), starting with a letter or digit, "
        "at most 64 characters")


def valid(version: str) -> bool:
    return VERSION_RE.fullmatch(version) is not None


def _cmp(x: int | str, y: int | str) -> int:
    return (x > y) - (x < y)  # type: ignore[operator]


def _valid_char(c: str) -> bool:
    return (c.isascii() and c.isalnum()) or c in "~-^."


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as a is older than, the same as, or newer than b. Segments are numeric or alphabetic;
    '~' marks a pre-release (oldest), '-' a release, '^' a patch, '.' a point release."""
    i = j = 0
    while True:
        while i < len(a) and not _valid_char(a[i]):
            i += 1
        while j < len(b) and not _valid_char(b[j]):
            j += 1
        ca, cb = a[i:i + 1], b[j:j + 1]
        if "~" in (ca, cb):
            r = _cmp(ca != "~", cb != "~")
            if r:
                return r
            i, j = i + 1, j + 1
            ca, cb = a[i:i + 1], b[j:j + 1]
        if not ca or not cb:
            return _cmp(ca, cb)
        for mark in "-^.":
            if mark in (ca, cb):
                r = _cmp(ca != mark, cb != mark)
                if r:
                    return r
                i, j = i + 1, j + 1
                ca, cb = a[i:i + 1], b[j:j + 1]
        if ca.isdigit() or cb.isdigit():
            ea, eb = i, j
            while ea < len(a) and a[ea].isascii() and a[ea].isdigit():
                ea += 1
            while eb < len(b) and b[eb].isascii() and b[eb].isdigit():
                eb += 1
            r = _cmp(ea != i, eb != j)
            if r:
                return r
            da, db = a[i:ea].lstrip("0"), b[j:eb].lstrip("0")
            r = _cmp(len(da), len(db)) or _cmp(da, db)
            if r:
                return r
        else:
            ea, eb = i, j
            while ea < len(a) and a[ea].isascii() and a[ea].isalpha():
                ea += 1
            while eb < len(b) and b[eb].isascii() and b[eb].isalpha():
                eb += 1
            n = min(ea - i, eb - j)
            r = _cmp(a[i:i + n], b[j:j + n]) or _cmp(ea - i, eb - j)
            if r:
                return r
        i, j = ea, eb


def newer(candidate: str, running: str) -> bool:
    return compare(candidate, running) > 0
