"""What an evdev device is, from its capabilities (never its name), following the rules of udev's
input_id builtin so that hal agrees with ID_INPUT_* properties.

A device can be several things (a keyboard with a power key, a touchscreen with buttons), so the
answer is a list of kinds, most significant first."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from evdev import ecodes as e

KEYBOARD = "keyboard"
POINTER = "pointer"            # relative: mice, trackballs
ABSOLUTE = "absolute-pointer"  # QEMU usb-tablet / virtio-tablet, VMs' absolute mice
TABLET = "tablet"              # pens
TOUCHSCREEN = "touchscreen"
TOUCHPAD = "touchpad"
POWER_BUTTON = "power-button"
KEYS = "keys"                  # some keys, not a full keyboard (media keys, lid, sleep button)

# udev's test_key(): a keyboard has KEY_ESC..KEY_D (codes 1..31) — the first row and a half.
_KEYBOARD_KEYS = frozenset(range(e.KEY_ESC, e.KEY_D + 1))


def classify(capabilities: Mapping[int, Iterable[int]], properties: Iterable[int] = ()) -> list[str]:
    keys = set(capabilities.get(e.EV_KEY, ()))
    rel = set(capabilities.get(e.EV_REL, ()))
    absolute = set(capabilities.get(e.EV_ABS, ()))
    props = set(properties)
    kinds: list[str] = []

    has_xy = {e.ABS_X, e.ABS_Y} <= absolute
    has_mt = {e.ABS_MT_POSITION_X, e.ABS_MT_POSITION_Y} <= absolute
    if has_xy or has_mt:
        if keys & {e.BTN_STYLUS, e.BTN_TOOL_PEN}:
            kinds.append(TABLET)
        elif e.BTN_TOUCH in keys or has_mt:
            direct = e.INPUT_PROP_DIRECT in props or (
                e.BTN_TOOL_FINGER not in keys and e.INPUT_PROP_POINTER not in props)
            kinds.append(TOUCHSCREEN if direct else TOUCHPAD)
        elif keys & {e.BTN_LEFT, e.BTN_MOUSE, e.BTN_RIGHT, e.BTN_MIDDLE}:
            kinds.append(ABSOLUTE)
    if {e.REL_X, e.REL_Y} <= rel and e.BTN_MOUSE in keys:
        kinds.append(POINTER)
    if keys >= _KEYBOARD_KEYS:
        kinds.append(KEYBOARD)
    if e.KEY_POWER in keys:
        kinds.append(POWER_BUTTON)
    if not kinds and any(code < e.BTN_MISC or code >= e.KEY_OK for code in keys):
        kinds.append(KEYS)
    return kinds
