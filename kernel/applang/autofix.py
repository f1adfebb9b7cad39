"""Deterministic repairs of the slips a small model makes, applied before asking it again.

Only repairs that keep what the document says are made, so a repaired document still does what the
model meant (a wrong app must never come out of a repair):
- a state variable declared twice keeps its first declaration;
- a widget, row item or timer repeated word for word is kept once (a base model loves to repeat);
- a misspelt name is replaced by the declared one it is a slip of ('bil', 'billl', 'blil' -> 'bill');
- a 'clear' of a variable that does not exist is dropped (it is left over from a copied example
  and clears nothing);
- an expression that ends in a dangling operator ('a + ') loses the operator.
Anything else is left for the model, with the located errors, or becomes an honest failure.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from llmos.kernel.applang.errors import LocatedError

_STEP = re.compile(r"([A-Za-z]+)|\[(\d+)\]")
_DANGLING = re.compile(r"\s*(?:\+|-|\*|/|%|\*\*|\band|\bor|,)\s*$")


def _dedupe(items: list[Any], key: Any = None) -> list[Any]:
    seen: set[str] = set()
    out = []
    for item in items:
        mark = json.dumps(key(item) if key else item, sort_keys=True, default=str)
        if mark not in seen:
            seen.add(mark)
            out.append(item)
    return out


def tidy(data: Any) -> Any:
    """Drop repeated state declarations, widgets, row items and timers (a copy; other JSON as is)."""
    if not isinstance(data, dict) or "unsupported" in data:
        return data
    data = copy.deepcopy(data)
    if isinstance(data.get("state"), list):
        data["state"] = _dedupe(data["state"], lambda v: v.get("name") if isinstance(v, dict) else v)
    if isinstance(data.get("view"), list):
        data["view"] = _dedupe(data["view"])
        for widget in data["view"]:
            if isinstance(widget, dict) and isinstance(widget.get("items"), list):
                widget["items"] = _dedupe(widget["items"])
    if isinstance(data.get("timers"), list):
        data["timers"] = _dedupe(data["timers"])
    return data


def _locate(data: Any, path: str) -> tuple[Any, Any] | None:
    """(container, key) of the value at `path` ('view[2].do[0].to'), or None if it is not there."""
    steps = [m.group(1) or int(m.group(2)) for m in _STEP.finditer(path)]
    if not steps:
        return None
    node = data
    for step in steps[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    last = steps[-1]
    if isinstance(node, dict) and isinstance(last, str) and last in node:
        return node, last
    if isinstance(node, list) and isinstance(last, int) and last < len(node):
        return node, last
    return None


def is_slip(typed: str, meant: str) -> bool:
    """Whether `typed` is `meant` with one letter too many, too few or two swapped (or in another
    case). A different letter does not count: 'height' is not a slip for 'weight'."""
    a, b = typed.lower(), meant.lower()
    if a == b:
        return True
    if min(len(a), len(b)) < 3 or a[0] != b[0]:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        swapped = len(diff) == 2 and diff[1] == diff[0] + 1
        return swapped and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    short, long = sorted((a, b), key=len)
    return len(long) - len(short) == 1 and any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def _rename(data: Any, error: LocatedError) -> bool:
    if not error.unknown or not error.suggestion or not is_slip(error.unknown, error.suggestion):
        return False
    found = _locate(data, error.path)
    if found is None:
        return False
    container, key = found
    value = container[key]
    if not isinstance(value, str):
        return False
    if error.column == 0 and value == error.unknown:  # a binding: "var": "bil"
        container[key] = error.suggestion
        return True
    start = error.column - 1
    if error.column > 0 and value[start:start + len(error.unknown)] == error.unknown:
        container[key] = value[:start] + error.suggestion + value[start + len(error.unknown):]
        return True
    return False


def _drop_clear(data: Any, error: LocatedError) -> bool:
    if not error.path.endswith(".clear") or not error.unknown or error.suggestion:
        return False
    found = _locate(data, error.path.rsplit(".", 1)[0])
    if found is None:
        return False
    actions, index = found
    if not isinstance(actions, list) or len(actions) < 2:  # a button must keep at least one action
        return False
    del actions[index]
    return True


def _undangle(data: Any, error: LocatedError) -> bool:
    if "ends too early" not in error.message:
        return False
    found = _locate(data, error.path)
    if found is None or not isinstance(found[0][found[1]], str):
        return False
    container, key = found
    trimmed = _DANGLING.sub("", container[key])
    if not trimmed or trimmed == container[key]:
        return False
    container[key] = trimmed
    return True


def repair(data: Any, errors: list[LocatedError]) -> Any | None:
    """A copy of tidied document JSON with the repairable `errors` repaired, or None when none is.
    Errors are applied last-first, so removing one action does not shift the paths of the others."""
    if not isinstance(data, dict) or "unsupported" in data:
        return None
    fixed = copy.deepcopy(data)
    changed = False
    for error in sorted(errors, key=lambda e: _sort_key(e.path), reverse=True):
        changed |= _rename(fixed, error) or _drop_clear(fixed, error) or _undangle(fixed, error)
    return fixed if changed else None


def _sort_key(path: str) -> tuple[Any, ...]:
    return tuple((0, int(m.group(2))) if m.group(2) else (1, m.group(1)) for m in _STEP.finditer(path))
