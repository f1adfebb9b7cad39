"""The compositor's configuration: defaults for its own [compositor] section plus the shared
[system], [display], [kiosk] and [input] sections of /etc/llmos/llmos.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmos import config, paths
from llmos.compositor.server import Settings
from llmos.compositor.shell.state import ShellConfig

DEFAULTS: dict[str, Any] = {
    "runtime_dir": "/run/llmos/wayland",  # XDG_RUNTIME_DIR of the Wayland socket
    "socket": "wayland-0",
    "tiling": False,
    "launcher_keys": ["super", "ctrl+space"],
    "background": "#21303f",
    "headless_width": 1280,
    "headless_height": 800,
    "device": "",  # force a DRM card or fbdev node; empty: auto
}


def _colour(text: str) -> tuple[float, float, float]:
    text = text.lstrip("#")
    if len(text) != 6:
        raise ValueError(f"colour {text!r} is not #rrggbb")
    return tuple(int(text[i:i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def load(cfg: config.Config | None = None) -> tuple[Settings, dict[str, Any], list[str]]:
    """Settings, the display options (backend, rotation, size, device) and located problems."""
    cfg = cfg or config.load()
    problems = [str(p) for p in cfg.problems]
    own = {**DEFAULTS, **cfg.section("compositor")}
    system, display = cfg.section("system"), cfg.section("display")
    kiosk, keyboard = cfg.section("kiosk"), cfg.section("input")
    mode = system.get("mode", "desktop")
    if mode not in ("desktop", "kiosk"):
        problems.append(f"system.mode: {mode!r} is not desktop or kiosk; using desktop")
        mode = "desktop"
    rotation = display.get("rotation", kiosk.get("rotation", 0) if mode == "kiosk" else 0)
    if rotation not in (0, 90, 180, 270):
        problems.append(f"rotation: {rotation!r} is not 0, 90, 180 or 270; using 0")
        rotation = 0
    try:
        background = _colour(str(own["background"]))
    except ValueError as error:
        problems.append(f"compositor.background: {error}")
        background = _colour(DEFAULTS["background"])
    settings = Settings(
        runtime_dir=Path(own["runtime_dir"]), socket_name=str(own["socket"]),
        control_socket=paths.socket_path("compositor"), hal_socket=paths.socket_path("hal"),
        mode=mode, tiling=bool(own["tiling"]), hide_cursor=bool(kiosk.get("hide_cursor", True)),
        layout=keyboard.get("layout", "us"), variant=keyboard.get("variant", ""),
        options=keyboard.get("options", ""), launcher_keys=tuple(own["launcher_keys"]), background=background,
        shell=ShellConfig.from_section(cfg.section("shell"), problems))
    output = {"backend": display.get("backend", "auto"), "rotation": rotation, "device": str(own["device"]),
              "size": (int(own["headless_width"]), int(own["headless_height"]))}
    return settings, output, problems
