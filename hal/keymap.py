"""The XKB keymap from [input] layout/variant/options, compiled by xkbcommon.

The compositor sends this text to clients in wl_keyboard.keymap. A layout xkbcommon cannot compile
falls back to "us" with a located error, so a typo never leaves the machine without a keyboard."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from xkbcommon import xkb

LOG = logging.getLogger("llmos.hal.keymap")


@dataclass(frozen=True)
class KeyboardLayout:
    layout: str
    variant: str
    options: str
    text: str
    error: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return {"layout": self.layout, "variant": self.variant, "options": self.options,
                "format": "xkb_v1", "keymap": self.text, "error": self.error}


def _compile(layout: str, variant: str, options: str) -> str:
    keymap = xkb.Context().keymap_new_from_names(layout=layout, variant=variant or None,
                                                 options=options or None)
    text: str = keymap.get_as_string()  # xkbcommon ships no type information
    return text


def compile_keymap(layout: str = "us", variant: str = "", options: str = "") -> KeyboardLayout:
    try:
        return KeyboardLayout(layout, variant, options, _compile(layout, variant, options))
    except xkb.XKBError as error:
        message = (f"input.layout/variant: xkbcommon cannot compile layout={layout!r} "
                   f"variant={variant!r} options={options!r} ({error}); using 'us'")
        LOG.error("%s", message)
        return KeyboardLayout("us", "", "", _compile("us", "", ""), message)
