"""Colour strings from the UI tree ("#rgb", "#rrggbb", "#rrggbbaa") as Cairo RGBA floats."""

from __future__ import annotations

from functools import lru_cache

RGBA = tuple[float, float, float, float]


@lru_cache(maxsize=512)
def parse_color(text: str) -> RGBA:
    """Parse a hex colour; raises ValueError naming the bad string (callers add the location)."""
    if not isinstance(text, str) or not text.startswith("#"):
        raise ValueError(f"colour must be a '#rrggbb' string, got {text!r}")
    digits = text[1:]
    if len(digits) in (3, 4):
        digits = "".join(ch * 2 for ch in digits)
    if len(digits) not in (6, 8):
        raise ValueError(f"colour {text!r} must have 3, 4, 6 or 8 hex digits")
    try:
        values = [int(digits[i:i + 2], 16) / 255 for i in range(0, len(digits), 2)]
    except ValueError:
        raise ValueError(f"colour {text!r} has a non-hex digit") from None
    if len(values) == 3:
        values.append(1.0)
    return (values[0], values[1], values[2], values[3])


def with_alpha(color: RGBA, alpha: float) -> RGBA:
    return (color[0], color[1], color[2], color[3] * alpha)
