"""Host functions every app gets, whatever it was granted: the wall clock, time-zone offsets and random
numbers (sdk/js/runtime.js builds `clock`, `random` and `format` on them).

Why no capability: none of them reaches beyond the app. The time of day and a zone's offset reveal
nothing the user does not see on the shell's clock, and random numbers come from the OS pool
(os.urandom) so that passwords and dice are unpredictable; QuickJS's own Math.random is seeded from
the time. They answer as the kernel-backed functions do (their value, or a HostFunctionError: hostfn.py)
and never call the kernel.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable
from typing import Any

from llmos.kernel.sandbox.hostfn import HostFunctionError
from llmos.sdk import zones

MAX_RANDOM_WORDS = 256


def wall_clock_ms() -> float:
    return time.time() * 1000.0


def builtin_functions(wall_clock: Callable[[], float] = wall_clock_ms) -> dict[str, Callable[..., Any]]:
    """The always-present host functions; `wall_clock` is ms since 1970 (a test clock shifts it)."""

    def clock_now() -> float:
        return float(wall_clock())

    def zone_offset(zone: Any, at_ms: Any) -> int | None:
        if not isinstance(zone, str) or isinstance(at_ms, bool) or not isinstance(at_ms, int | float):
            raise HostFunctionError("zone_offset(zone: string, ms: number)")
        try:
            return zones.offset_minutes(zone[:64], float(at_ms))
        except (OverflowError, ValueError, OSError) as error:
            raise HostFunctionError(f"zone_offset: {error}") from None

    def random_u32(count: Any) -> list[int]:
        if isinstance(count, bool) or not isinstance(count, int | float):
            raise HostFunctionError("random_u32(count: number)")
        n = max(1, min(MAX_RANDOM_WORDS, int(count)))
        return list(struct.unpack(f"<{n}I", os.urandom(4 * n)))

    return {"clock_now": clock_now, "zone_offset": zone_offset, "random_u32": random_u32}
