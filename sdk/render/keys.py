"""X11/xkb keysym values the renderer understands. Wayland keyboards deliver xkb keysyms, so the
renderer speaks keysyms and the window layer only translates keycodes through the keymap."""

from __future__ import annotations

BACKSPACE = 0xFF08
TAB = 0xFF09
ISO_LEFT_TAB = 0xFE20  # what Shift+Tab produces with the common layouts
RETURN = 0xFF0D
KP_ENTER = 0xFF8D
ESCAPE = 0xFF1B
HOME = 0xFF50
LEFT = 0xFF51
UP = 0xFF52
RIGHT = 0xFF53
DOWN = 0xFF54
PAGE_UP = 0xFF55
PAGE_DOWN = 0xFF56
END = 0xFF57
DELETE = 0xFFFF
SPACE = 0x0020

ENTER_KEYS = (RETURN, KP_ENTER)

# linux/input-event-codes.h pointer buttons, as wl_pointer.button reports them
BTN_LEFT = 0x110
BTN_RIGHT = 0x111
BTN_MIDDLE = 0x112
