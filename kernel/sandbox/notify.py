"""What a `ui.notify` may carry, checked on both sides of the app's kernel socket: the app host
refuses oversized options before they leave it, and the broker checks size and shape again (a
compromised host could send anything) before it keeps or forwards a notification."""

from __future__ import annotations

import json
import math
from typing import Any

from llmos.kernel.sandbox.treecheck import nests_deeper_than

MAX_TEXT = 500              # characters of the text; the rest is cut
MAX_OPTIONS_BYTES = 4096    # the options as JSON text
MAX_TIMEOUT_MS = 600_000


def cut_text(text: Any) -> str:
    return str(text)[:MAX_TEXT]


def options_too_large(options: str) -> str | None:
    """The refusal for options JSON text over the limit, else None."""
    size = len(options.encode())
    if size <= MAX_OPTIONS_BYTES:
        return None
    return f"ui.notify options are {size} bytes, over the limit of {MAX_OPTIONS_BYTES}"


def parse_options(text: Any) -> Any:
    """The options value from the JSON text the host sends: size first, then nesting (the JSON
    parser recurses), then the parse."""
    if text is None or text == "":
        return {}
    if not isinstance(text, str):
        raise ValueError("ui.notify options arrive as JSON text")
    if (refusal := options_too_large(text)) is not None:
        raise ValueError(refusal)
    if nests_deeper_than(text, 8):
        raise ValueError("ui.notify options nest too deeply")
    try:
        return json.loads(text)
    except ValueError as error:
        raise ValueError(f"ui.notify options are not JSON: {error}") from None


def check_options(value: Any) -> dict[str, Any]:
    """The options the shell uses ({sound?: boolean, timeout?: ms}). Unknown keys are dropped (a
    newer SDK may add some); a known key of the wrong type, or a value that is not an object, is
    refused with ValueError."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"ui.notify options must be an object, not {type(value).__name__}")
    checked: dict[str, Any] = {}
    if "sound" in value:
        if not isinstance(value["sound"], bool):
            raise ValueError("ui.notify options.sound must be true or false")
        checked["sound"] = value["sound"]
    if "timeout" in value:
        timeout = value["timeout"]
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout) \
                or not 0 <= timeout <= MAX_TIMEOUT_MS:
            raise ValueError(f"ui.notify options.timeout must be a number of ms from 0 to {MAX_TIMEOUT_MS}")
        checked["timeout"] = timeout
    return checked
