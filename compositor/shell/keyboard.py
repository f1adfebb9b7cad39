"""evdev key codes to what the SDK renderer speaks (xkb keysym, text, shift), through the
compositor's own xkb state, so the shell types with the same layout the apps get."""

from __future__ import annotations

from typing import Any

from xkbcommon import xkb


def translate(state: Any, evdev_code: int) -> tuple[int, str, bool]:
    """Call before the key's press is fed to the xkb state (as a client would see it)."""
    keycode = evdev_code + 8
    sym = state.key_get_one_sym(keycode)
    text = state.key_get_string(keycode)
    try:
        shift = state.mod_name_is_active("Shift", xkb.StateComponent.XKB_STATE_MODS_EFFECTIVE)
    except Exception:  # a keymap without a Shift modifier
        shift = False
    return sym, text, bool(shift)


def ctrl_active(state: Any) -> bool:
    try:
        return bool(state.mod_name_is_active("Control", xkb.StateComponent.XKB_STATE_MODS_EFFECTIVE))
    except Exception:
        return False
