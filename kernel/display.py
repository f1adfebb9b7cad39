"""Where app windows go: the compositor's Wayland socket, or nowhere (headless hosts).

Asked at every launch (kernel/service.py). The kernel starts once the compositor has come up or
failed, and a failed compositor may come back later, so its zygote is told where the socket will be
(kernel/__main__.py) rather than where it is."""

from __future__ import annotations

import os
from pathlib import Path

from llmos import config


def find_wayland(cfg: config.Config) -> Path | None:
    """The compositor's socket, or None. WAYLAND_DISPLAY/XDG_RUNTIME_DIR from PID 1 win when their
    socket exists; otherwise they are set from the compositor's own settings ([compositor]
    runtime_dir, socket), so the app hosts we spawn inherit a working pair."""
    display, runtime = os.environ.get("WAYLAND_DISPLAY"), os.environ.get("XDG_RUNTIME_DIR")
    if display and (display.startswith("/") or runtime):
        given = Path(display) if display.startswith("/") else Path(runtime or "") / display
        if given.exists():
            return given
    own = cfg.settings.compositor
    runtime_dir, name = own.runtime_dir, own.socket
    configured = Path(runtime_dir) / name
    if not configured.exists():
        return None
    os.environ["XDG_RUNTIME_DIR"], os.environ["WAYLAND_DISPLAY"] = runtime_dir, name
    return configured


def expect_wayland(cfg: config.Config) -> None:
    """Put the compositor's socket in this process's environment before it exists, unless a socket is
    found or the environment names one already: the compositor may not be up when the kernel starts
    its zygote, and the app hosts forked from it inherit the zygote's environment."""
    if find_wayland(cfg) is None and not os.environ.get("WAYLAND_DISPLAY"):
        own = cfg.settings.compositor
        os.environ["XDG_RUNTIME_DIR"], os.environ["WAYLAND_DISPLAY"] = own.runtime_dir, own.socket


def renderer(asked: str, cfg: config.Config) -> str:
    """Wayland when asked for ([sandbox] renderer) and the compositor's socket exists, else headless:
    checked per launch, so apps started before the compositor is up still run (headless) instead of
    failing."""
    return "wayland" if asked == "wayland" and find_wayland(cfg) is not None else "null"
