"""Host functions every app gets, whatever it was granted: the wall clock, time-zone offsets and random
numbers (sdk/js/runtime.js builds `clock`, `random` and `format` on them).

Why no capability: none of them reaches beyond the app. The time of day and a zone's offset reveal
nothing the user does not see on the shell's clock, and random numbers come from the OS pool
(os.urandom) so that passwords and dice are unpredictable; QuickJS's own Math.random is seeded from
the time. They answer in the same {ok, value} envelope as the kernel-backed functions and never call
the kernel.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable
from typing import Any

from llmos.sdk import zones

MAX_RANDOM_WORDS = 256


def wall_clock_ms() -> float:
    return time.time() * 1000.0


def _ok(value: Any) -> dict[str, Any]:
    return {"ok": True, "value": value}


def _error(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}


def builtin_functions(wall_clock: Callable[[], float] = wall_clock_ms) -> dict[str, Callable[..., Any]]:
    """The always-present host functions; `wall_clock` is ms since 1970 (a test clock shifts it)."""

    def clock_now() -> dict[str, Any]:
        return _ok(float(wall_clock()))

    def zone_offset(zone: Any, at_ms: Any) -> dict[str, Any]:
        if not isinstance(zone, str) or isinstance(at_ms, bool) or not isinstance(at_ms, int | float):
            return _error("zone_offset(zone: string, ms: number)")
        try:
            return _ok(zones.offset_minutes(zone[:64], float(at_ms)))
        except (OverflowError, ValueError, OSError) as error:
            return _error(f"zone_offset: {error}")

    def random_u32(count: Any) -> dict[str, Any]:
        if isinstance(count, bool) or not isinstance(count, int | float):
            return _error("random_u32(count: number)")
        n = max(1, min(MAX_RANDOM_WORDS, int(count)))
        return _ok(list(struct.unpack(f"<{n}I", os.urandom(4 * n))))

    return {"clock_now": clock_now, "zone_offset": zone_offset, "random_u32": random_u32}
