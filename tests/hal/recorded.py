"""Recorded evdev streams: struct input_event bytes as the kernel writes them, and the capabilities
of the devices QEMU gives a guest. This host has no /dev/input and no /dev/uinput, so hal's input
path is exercised by feeding these bytes through a pipe into python-evdev's reader."""

from __future__ import annotations

import struct

from evdev import ecodes as e

EVENT = struct.Struct("llHHi")  # struct timeval + __u16 type + __u16 code + __s32 value (64-bit)

# QEMU's "AT Translated Set 2 keyboard": every key up to KEY_MICMUTE
KEYBOARD = {e.EV_SYN: [0], e.EV_KEY: list(range(1, 249)), e.EV_MSC: [e.MSC_SCAN], e.EV_LED: [0, 1, 2]}
# QEMU usb-tablet / virtio-tablet: absolute X/Y with buttons
TABLET_ABS = {e.EV_SYN: [0], e.EV_KEY: [e.BTN_LEFT, e.BTN_RIGHT, e.BTN_MIDDLE],
              e.EV_ABS: [e.ABS_X, e.ABS_Y], e.EV_REL: [e.REL_WHEEL]}
MOUSE = {e.EV_SYN: [0], e.EV_KEY: [e.BTN_LEFT, e.BTN_RIGHT, e.BTN_MIDDLE], e.EV_REL: [e.REL_X, e.REL_Y,
                                                                                    e.REL_WHEEL]}
TOUCHSCREEN = {e.EV_SYN: [0], e.EV_KEY: [e.BTN_TOUCH],
               e.EV_ABS: [e.ABS_X, e.ABS_Y, e.ABS_MT_SLOT, e.ABS_MT_POSITION_X, e.ABS_MT_POSITION_Y]}
TOUCHPAD = {e.EV_SYN: [0], e.EV_KEY: [e.BTN_LEFT, e.BTN_TOUCH, e.BTN_TOOL_FINGER],
            e.EV_ABS: [e.ABS_X, e.ABS_Y, e.ABS_MT_POSITION_X, e.ABS_MT_POSITION_Y]}
PEN = {e.EV_SYN: [0], e.EV_KEY: [e.BTN_TOUCH, e.BTN_TOOL_PEN, e.BTN_STYLUS], e.EV_ABS: [e.ABS_X, e.ABS_Y]}
# the ACPI "Power Button" device
POWER = {e.EV_SYN: [0], e.EV_KEY: [e.KEY_POWER]}
MEDIA_KEYS = {e.EV_SYN: [0], e.EV_KEY: [e.KEY_VOLUMEUP, e.KEY_VOLUMEDOWN, e.KEY_MUTE]}


def event(type_: int, code: int, value: int, sec: int = 1700000000, usec: int = 0) -> bytes:
    return EVENT.pack(sec, usec, type_, code, value)


def key(code: int, value: int, usec: int = 0) -> bytes:
    return event(e.EV_KEY, code, value, usec=usec) + event(e.EV_SYN, e.SYN_REPORT, 0, usec=usec)


def abs_move(x: int, y: int) -> bytes:
    return event(e.EV_ABS, e.ABS_X, x) + event(e.EV_ABS, e.ABS_Y, y) + event(e.EV_SYN, e.SYN_REPORT, 0)
