"""wl_keyboard -> renderer keys: the compositor's xkb keymap (through the xkbcommon package)
turns evdev keycodes into keysyms and text; key repeat runs on asyncio timers."""

from __future__ import annotations

import asyncio
import mmap
import os
from collections.abc import Callable

from xkbcommon import xkb

KeySink = Callable[[int, bool, str, bool], None]
EVDEV_OFFSET = 8  # xkb keycode = evdev keycode + 8


class Keyboard:
    def __init__(self, sink: KeySink, loop: asyncio.AbstractEventLoop) -> None:
        self._sink = sink
        self._loop = loop
        self._context = xkb.Context()
        self._keymap: xkb.Keymap | None = None
        self._state: xkb.KeyboardState | None = None
        self._rate = 25
        self._delay = 0.6
        self._repeat: asyncio.TimerHandle | None = None

    def keymap(self, fmt: int, fd: int, size: int) -> None:
        try:
            if fmt != 1:  # WL_KEYBOARD_KEYMAP_FORMAT_XKB_V1
                return
            with mmap.mmap(fd, size, mmap.MAP_PRIVATE, mmap.PROT_READ) as data:
                text = bytes(data).rstrip(b"\0")
            self._keymap = self._context.keymap_new_from_buffer(text)
            self._state = self._keymap.state_new()
        finally:
            os.close(fd)

    def modifiers(self, depressed: int, latched: int, locked: int, group: int) -> None:
        if self._state is not None:
            self._state.update_mask(depressed, latched, locked, 0, 0, group)

    def repeat_info(self, rate: int, delay: int) -> None:
        self._rate, self._delay = rate, delay / 1000

    @staticmethod
    def _translate(state: xkb.KeyboardState, keycode: int) -> tuple[int, str, bool]:
        sym = state.key_get_one_sym(keycode)
        text = state.key_get_string(keycode)
        try:
            shift = state.mod_name_is_active("Shift", xkb.StateComponent.XKB_STATE_MODS_EFFECTIVE)
        except xkb.XKBModifierDoesNotExist:
            shift = False
        return sym, text, shift

    def key(self, evdev_key: int, pressed: bool) -> None:
        state, keymap = self._state, self._keymap
        if state is None or keymap is None:
            return
        keycode = evdev_key + EVDEV_OFFSET
        sym, text, shift = self._translate(state, keycode)
        self.stop_repeat()
        self._sink(sym, pressed, text, shift)
        if pressed and self._rate > 0 and keymap.key_repeats(keycode):
            self._repeat = self._loop.call_later(self._delay, self._repeat_key, keycode)

    def _repeat_key(self, keycode: int) -> None:
        if self._state is None:
            return
        sym, text, shift = self._translate(self._state, keycode)
        self._sink(sym, True, text, shift)
        self._repeat = self._loop.call_later(1 / self._rate, self._repeat_key, keycode)

    def stop_repeat(self) -> None:
        if self._repeat is not None:
            self._repeat.cancel()
            self._repeat = None
