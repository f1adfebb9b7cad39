"""DRM/KMS output with two dumb buffers, in plain ctypes ioctls (no PyPI package does this well).

Bring-up: SET_MASTER, GETRESOURCES, first connected connector and its preferred mode, its encoder's
CRTC (or the first one it can use), CREATE_DUMB + ADDFB + MAP_DUMB + mmap twice, SETCRTC on buffer 0.
Each frame copies the damaged rectangles of the shadow image (this frame's and the previous one's, since
the back buffer is two frames old) into the back buffer and PAGE_FLIPs with an event; the flip event
read from the fd paces the next frame. Drivers without page flip get front-buffer copies plus DIRTYFB.
Works on QEMU's std VGA (bochs-drm), virtio-gpu and real hardware with KMS.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import mmap
import os
import struct
from typing import TypeVar

import cairocffi as cairo

from llmos.compositor.outputs import OutputError, Transform, blit
from llmos.compositor.scene import Rect

u32, u16, u64 = ctypes.c_uint32, ctypes.c_uint16, ctypes.c_uint64
_Item = TypeVar("_Item", ctypes.c_uint32, ctypes.c_uint64, "ModeInfo")


def _iowr(nr: int, size: int) -> int:
    return (3 << 30) | (size << 16) | (ord("d") << 8) | nr


def _io(nr: int) -> int:
    return (ord("d") << 8) | nr


class ModeInfo(ctypes.Structure):
    _fields_ = [("clock", u32), ("hdisplay", u16), ("hsync_start", u16), ("hsync_end", u16),
                ("htotal", u16), ("hskew", u16), ("vdisplay", u16), ("vsync_start", u16),
                ("vsync_end", u16), ("vtotal", u16), ("vscan", u16), ("vrefresh", u32), ("flags", u32),
                ("type", u32), ("name", ctypes.c_char * 32)]


class CardRes(ctypes.Structure):
    _fields_ = [("fb_id_ptr", u64), ("crtc_id_ptr", u64), ("connector_id_ptr", u64), ("encoder_id_ptr", u64),
                ("count_fbs", u32), ("count_crtcs", u32), ("count_connectors", u32), ("count_encoders", u32),
                ("min_width", u32), ("max_width", u32), ("min_height", u32), ("max_height", u32)]


class Crtc(ctypes.Structure):
    _fields_ = [("set_connectors_ptr", u64), ("count_connectors", u32), ("crtc_id", u32), ("fb_id", u32),
                ("x", u32), ("y", u32), ("gamma_size", u32), ("mode_valid", u32), ("mode", ModeInfo)]


class GetEncoder(ctypes.Structure):
    _fields_ = [("encoder_id", u32), ("encoder_type", u32), ("crtc_id", u32), ("possible_crtcs", u32),
                ("possible_clones", u32)]


class GetConnector(ctypes.Structure):
    _fields_ = [("encoders_ptr", u64), ("modes_ptr", u64), ("props_ptr", u64), ("prop_values_ptr", u64),
                ("count_modes", u32), ("count_props", u32), ("count_encoders", u32), ("encoder_id", u32),
                ("connector_id", u32), ("connector_type", u32), ("connector_type_id", u32),
                ("connection", u32), ("mm_width", u32), ("mm_height", u32), ("subpixel", u32), ("pad", u32)]


class FbCmd(ctypes.Structure):
    _fields_ = [("fb_id", u32), ("width", u32), ("height", u32), ("pitch", u32), ("bpp", u32),
                ("depth", u32), ("handle", u32)]


class PageFlip(ctypes.Structure):
    _fields_ = [("crtc_id", u32), ("fb_id", u32), ("flags", u32), ("reserved", u32), ("user_data", u64)]


class CreateDumb(ctypes.Structure):
    _fields_ = [("height", u32), ("width", u32), ("bpp", u32), ("flags", u32), ("handle", u32),
                ("pitch", u32), ("size", u64)]


class MapDumb(ctypes.Structure):
    _fields_ = [("handle", u32), ("pad", u32), ("offset", u64)]


class DestroyDumb(ctypes.Structure):
    _fields_ = [("handle", u32)]


class FbDirty(ctypes.Structure):
    _fields_ = [("fb_id", u32), ("flags", u32), ("color", u32), ("num_clips", u32), ("clips_ptr", u64)]


class ClipRect(ctypes.Structure):
    _fields_ = [("x1", u16), ("y1", u16), ("x2", u16), ("y2", u16)]


SET_MASTER = _io(0x1E)
DROP_MASTER = _io(0x1F)
GETRESOURCES = _iowr(0xA0, ctypes.sizeof(CardRes))
GETCRTC = _iowr(0xA1, ctypes.sizeof(Crtc))
SETCRTC = _iowr(0xA2, ctypes.sizeof(Crtc))
GETENCODER = _iowr(0xA6, ctypes.sizeof(GetEncoder))
GETCONNECTOR = _iowr(0xA7, ctypes.sizeof(GetConnector))
ADDFB = _iowr(0xAE, ctypes.sizeof(FbCmd))
RMFB = _iowr(0xAF, ctypes.sizeof(u32))
PAGE_FLIP = _iowr(0xB0, ctypes.sizeof(PageFlip))
DIRTYFB = _iowr(0xB1, ctypes.sizeof(FbDirty))
CREATE_DUMB = _iowr(0xB2, ctypes.sizeof(CreateDumb))
MAP_DUMB = _iowr(0xB3, ctypes.sizeof(MapDumb))
DESTROY_DUMB = _iowr(0xB4, ctypes.sizeof(DestroyDumb))

PAGE_FLIP_EVENT = 0x01
EVENT_FLIP_COMPLETE = 0x02
MODE_TYPE_PREFERRED = 1 << 3
CONNECTED = 1


def _ioctl(fd: int, request: int, arg: ctypes.Structure | ctypes.c_uint32 | None = None) -> None:
    """ioctl that retries on EINTR/EAGAIN like libdrm's drmIoctl."""
    while True:
        try:
            fcntl.ioctl(fd, request, arg if arg is not None else 0)
            return
        except InterruptedError:
            continue
        except OSError as error:
            if error.errno == errno.EAGAIN:
                continue
            raise


def _array(count: int, ctype: type[_Item]) -> ctypes.Array[_Item]:
    return (ctype * max(count, 1))()


class _Buffer:
    def __init__(self, fd: int, width: int, height: int) -> None:
        create = CreateDumb(height=height, width=width, bpp=32)
        _ioctl(fd, CREATE_DUMB, create)
        self.handle, self.pitch, self.size = create.handle, create.pitch, create.size
        fb = FbCmd(width=width, height=height, pitch=self.pitch, bpp=32, depth=24, handle=self.handle)
        _ioctl(fd, ADDFB, fb)
        self.fb_id = fb.fb_id
        mapping = MapDumb(handle=self.handle)
        _ioctl(fd, MAP_DUMB, mapping)
        self.map = mmap.mmap(fd, self.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE,
                             offset=mapping.offset)
        self.image = cairo.ImageSurface.create_for_data(self.map, cairo.FORMAT_RGB24, width, height,
                                                        self.pitch)

    def destroy(self, fd: int) -> None:
        self.image.finish()
        with contextlib.suppress(BufferError):  # still exported to cairo; we are exiting anyway
            self.map.close()
        _ioctl(fd, RMFB, u32(self.fb_id))
        _ioctl(fd, DESTROY_DUMB, DestroyDumb(handle=self.handle))


class DrmOutput:
    kind = "drm"

    def __init__(self, path: str, rotation: int = 0) -> None:
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as error:
            raise OutputError(f"cannot open {path}: {error.strerror}") from None
        try:
            self._setup(path, rotation)
        except OSError as error:
            os.close(self.fd)
            raise OutputError(f"{path}: {error}") from None
        except OutputError:
            os.close(self.fd)
            raise

    def _setup(self, path: str, rotation: int) -> None:
        with contextlib.suppress(OSError):  # already master, or not needed: SETCRTC will tell
            _ioctl(self.fd, SET_MASTER)
        connector, mode = self._connector()
        crtc_id = self._crtc(connector)
        self.crtc_id, self.connector_id, self.mode = crtc_id, connector.connector_id, mode
        width, height = mode.hdisplay, mode.vdisplay
        self.refresh_hz = float(mode.vrefresh or 60)
        self.name = f"{path.rsplit('/', 1)[-1]}-{connector.connector_type}-{connector.connector_type_id}"
        self.transform = Transform(rotation, width, height)
        self.buffers = [_Buffer(self.fd, width, height), _Buffer(self.fd, width, height)]
        self.front = 0
        connectors = (u32 * 1)(self.connector_id)
        setcrtc = Crtc(set_connectors_ptr=ctypes.addressof(connectors), count_connectors=1, crtc_id=crtc_id,
                       fb_id=self.buffers[0].fb_id, mode_valid=1, mode=mode)
        _ioctl(self.fd, SETCRTC, setcrtc)
        self.can_flip = True
        self.flip_pending = False
        self.flip_fd: int | None = self.fd
        self._previous: list[Rect] = [Rect(0, 0, width, height)]

    def _connector(self) -> tuple[GetConnector, ModeInfo]:
        res = CardRes()
        _ioctl(self.fd, GETRESOURCES, res)
        connector_ids = _array(res.count_connectors, u32)
        crtcs = _array(res.count_crtcs, u32)
        encoders, fbs = _array(res.count_encoders, u32), _array(res.count_fbs, u32)
        res.connector_id_ptr = ctypes.addressof(connector_ids)
        res.crtc_id_ptr, res.encoder_id_ptr = ctypes.addressof(crtcs), ctypes.addressof(encoders)
        res.fb_id_ptr = ctypes.addressof(fbs)
        _ioctl(self.fd, GETRESOURCES, res)
        self._crtc_ids: list[int] = list(crtcs)[:res.count_crtcs]  # a u32 array yields ints
        for index in range(res.count_connectors):
            connector = GetConnector(connector_id=connector_ids[index])
            _ioctl(self.fd, GETCONNECTOR, connector)  # counts first
            modes = _array(connector.count_modes, ModeInfo)
            encoder_ids = _array(connector.count_encoders, u32)
            props, values = _array(connector.count_props, u32), _array(connector.count_props, u64)
            connector.modes_ptr = ctypes.addressof(modes)
            connector.encoders_ptr = ctypes.addressof(encoder_ids)
            connector.props_ptr, connector.prop_values_ptr = ctypes.addressof(props), ctypes.addressof(values)
            _ioctl(self.fd, GETCONNECTOR, connector)
            if connector.connection != CONNECTED or connector.count_modes == 0:
                continue
            available = list(modes)[:connector.count_modes]
            preferred = next((m for m in available if m.type & MODE_TYPE_PREFERRED), available[0])
            self._encoder_ids: list[int] = list(encoder_ids)[:connector.count_encoders]
            return connector, preferred
        raise OutputError("no connected connector with a mode")

    def _crtc(self, connector: GetConnector) -> int:
        encoder_ids = ([connector.encoder_id] if connector.encoder_id else []) + self._encoder_ids
        for encoder_id in encoder_ids:
            encoder = GetEncoder(encoder_id=encoder_id)
            try:
                _ioctl(self.fd, GETENCODER, encoder)
            except OSError:
                continue
            if encoder.crtc_id:
                return int(encoder.crtc_id)
            for bit, crtc_id in enumerate(self._crtc_ids):
                if encoder.possible_crtcs & (1 << bit):
                    return crtc_id
        raise OutputError("no CRTC for the connector")

    def present(self, shadow: cairo.ImageSurface, rects: list[Rect]) -> bool:
        physical = [self.transform.rect_to_physical(r) for r in rects]
        if not self.can_flip:
            front = self.buffers[self.front]
            blit(shadow, front.image, rects, self.transform)
            self._dirty(front.fb_id, physical)
            return False
        back_index = 1 - self.front
        back = self.buffers[back_index]
        blit(shadow, back.image, rects + self._previous, self.transform)
        self._previous = list(rects)
        flip = PageFlip(crtc_id=self.crtc_id, fb_id=back.fb_id, flags=PAGE_FLIP_EVENT)
        try:
            _ioctl(self.fd, PAGE_FLIP, flip)
        except OSError:
            # No page flip here (or it failed once): single-buffer from now on.
            self.can_flip = False
            self.flip_fd = None
            blit(shadow, self.buffers[self.front].image, [Rect(0, 0, 1 << 15, 1 << 15)], self.transform)
            self._dirty(self.buffers[self.front].fb_id, [])
            return False
        self.front = back_index
        self.flip_pending = True
        return True

    def _dirty(self, fb_id: int, rects: list[Rect]) -> None:
        clips = (ClipRect * max(1, len(rects)))(*[ClipRect(r.x, r.y, r.x + r.w, r.y + r.h) for r in rects])
        command = FbDirty(fb_id=fb_id, num_clips=len(rects), clips_ptr=ctypes.addressof(clips))
        with contextlib.suppress(OSError):  # most drivers scan out directly and lack it
            _ioctl(self.fd, DIRTYFB, command)

    def handle_flip(self) -> bool:
        """Read DRM events; a FLIP_COMPLETE means the last presented buffer is on screen."""
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return False
        done = False
        offset = 0
        while offset + 8 <= len(data):
            kind, length = struct.unpack_from("=II", data, offset)
            if kind == EVENT_FLIP_COMPLETE:
                done = True
            offset += max(length, 8)
        if done:
            self.flip_pending = False
        return done

    def screen(self) -> cairo.ImageSurface:
        return self.buffers[self.front].image

    def close(self) -> None:
        for buffer in self.buffers:
            with contextlib.suppress(OSError):
                buffer.destroy(self.fd)
        with contextlib.suppress(OSError):
            _ioctl(self.fd, DROP_MASTER)
        os.close(self.fd)
