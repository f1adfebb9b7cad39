"""Close a grammar-constrained JSON answer that hit max_tokens.

The grammar guarantees the text is a *prefix* of a valid spec, so the only failure left is truncation.
We cut back to the last point where a complete value ended inside a container, then append the closing
brackets: the result parses, and normalise() fills whatever is missing. This is what makes local output
"always parse" even with a small token budget."""

from __future__ import annotations

import json
from typing import Any


def close_truncated(text: str) -> str:
    stack: list[str] = []
    in_string = escaped = after_colon = False
    safe_cut, safe_stack = 0, []  # end of the last complete element, and the open containers there
    for index, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
                if (stack and stack[-1] == "[") or after_colon:
                    safe_cut, safe_stack = index + 1, list(stack)
                after_colon = False
            continue
        if ch == '"':
            in_string = True
        elif ch == ":":
            after_colon = True
        elif ch in "{[":
            stack.append(ch)
            after_colon = False
            safe_cut, safe_stack = index + 1, list(stack)
        elif ch in "}]":
            if stack:
                stack.pop()
            safe_cut, safe_stack = index + 1, list(stack)
        elif ch == "," and stack:
            after_colon = False
            safe_cut, safe_stack = index, list(stack)
    if not stack and not in_string and text.strip():
        return text
    if not safe_stack and safe_cut == 0:
        return "{}"
    closers = "".join("}" if opener == "{" else "]" for opener in reversed(safe_stack))
    return text[:safe_cut] + closers


def parse_truncated(text: str) -> Any:
    """json.loads, falling back to the closed prefix; ValueError if even that fails."""
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(close_truncated(text))
