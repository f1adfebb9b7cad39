"""fbdev output: the fallback when there is no KMS driver (e.g. efifb/simplefb, vesafb).

FBIOGET_VSCREENINFO/FSCREENINFO through fcntl.ioctl, mmap, then Cairo draws into the mapping. Single
buffered, timer paced; only 32 bits per pixel (XRGB) is supported.
"""

from __future__ import annotations

import ctypes
import fcntl
import mmap
import os

import cairocffi as cairo

from llmos.compositor.outputs import OutputError, Transform, blit
from llmos.compositor.scene import Rect

u32 = ctypes.c_uint32
FBIOGET_VSCREENINFO = 0x4600
FBIOGET_FSCREENINFO = 0x4602


class Bitfield(ctypes.Structure):
    _fields_ = [("offset", u32), ("length", u32), ("msb_right", u32)]


class VarScreenInfo(ctypes.Structure):
    _fields_ = [("xres", u32), ("yres", u32), ("xres_virtual", u32), ("yres_virtual", u32),
                ("xoffset", u32), ("yoffset", u32), ("bits_per_pixel", u32), ("grayscale", u32),
                ("red", Bitfield), ("green", Bitfield), ("blue", Bitfield), ("transp", Bitfield),
                ("nonstd", u32), ("activate", u32), ("height", u32), ("width", u32), ("accel_flags", u32),
                ("pixclock", u32), ("left_margin", u32), ("right_margin", u32), ("upper_margin", u32),
                ("lower_margin", u32), ("hsync_len", u32), ("vsync_len", u32), ("sync", u32), ("vmode", u32),
                ("rotate", u32), ("colorspace", u32), ("reserved", u32 * 4)]


class FixScreenInfo(ctypes.Structure):
    _fields_ = [("id", ctypes.c_char * 16), ("smem_start", ctypes.c_ulong), ("smem_len", u32), ("type", u32),
                ("type_aux", u32), ("visual", u32), ("xpanstep", ctypes.c_uint16),
                ("ypanstep", ctypes.c_uint16), ("ywrapstep", ctypes.c_uint16), ("line_length", u32),
                ("mmio_start", ctypes.c_ulong), ("mmio_len", u32), ("accel", u32),
                ("capabilities", ctypes.c_uint16), ("reserved", ctypes.c_uint16 * 2)]


class FbdevOutput:
    kind = "fbdev"
    flip_fd: int | None = None  # no flip events: frames are paced by a timer

    def __init__(self, path: str, rotation: int = 0) -> None:
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as error:
            raise OutputError(f"cannot open {path}: {error.strerror}") from None
        try:
            var, fix = VarScreenInfo(), FixScreenInfo()
            fcntl.ioctl(self.fd, FBIOGET_VSCREENINFO, var)
            fcntl.ioctl(self.fd, FBIOGET_FSCREENINFO, fix)
            if var.bits_per_pixel != 32:
                raise OutputError(f"{var.bits_per_pixel} bits per pixel; only 32 is supported")
            self.map = mmap.mmap(self.fd, fix.smem_len, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError as error:
            os.close(self.fd)
            raise OutputError(f"{path}: {error}") from None
        except OutputError:
            os.close(self.fd)
            raise
        self.name = f"{path.rsplit('/', 1)[-1]}-{fix.id.decode(errors='replace')}"
        self.refresh_hz = 60.0
        self.transform = Transform(rotation, var.xres, var.yres)
        offset = var.yoffset * fix.line_length + var.xoffset * 4
        self.image = cairo.ImageSurface.create_for_data(memoryview(self.map)[offset:], cairo.FORMAT_RGB24,
                                                        var.xres, var.yres, fix.line_length)

    def present(self, shadow: cairo.ImageSurface, rects: list[Rect]) -> bool:
        blit(shadow, self.image, rects, self.transform)
        return False

    def handle_flip(self) -> bool:
        return True

    def screen(self) -> cairo.ImageSurface:
        return self.image

    def close(self) -> None:
        self.image.finish()
        os.close(self.fd)
