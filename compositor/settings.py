"""The compositor's configuration: its own [compositor] and [shell] sections plus the shared [system],
[display], [kiosk] and [input] sections of llmos.toml (all declared in llmos/settings/sections.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmos import config, paths
from llmos.settings import CompositorSettings, ShellSettings, default_of


@dataclass(frozen=True)
class CompositorOptions:
    """What the compositor runs with, gathered from several sections of llmos.toml (their defaults are
    declared in llmos/settings/sections.py; `load` builds this)."""

    runtime_dir: Path
    socket_name: str
    control_socket: Path
    hal_socket: Path | None
    mode: str
    tiling: bool
    hide_cursor: bool
    layout: str
    variant: str
    options: str
    launcher_keys: tuple[str, ...]
    background: tuple[float, float, float]
    shell: ShellSettings | None  # draw the OS shell (None or enabled=False: no shell)


def _colour(text: str) -> tuple[float, float, float]:
    text = text.lstrip("#")
    if len(text) != 6:
        raise ValueError(f"colour {text!r} is not #rrggbb")
    red, green, blue = (int(text[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return red, green, blue


def load(cfg: config.Config | None = None) -> tuple[CompositorOptions, dict[str, Any], list[str]]:
    """Settings, the display options (backend, rotation, size, device) and located problems."""
    cfg = cfg or config.load()
    problems = [str(p) for p in cfg.problems]
    values = cfg.settings
    own, display, kiosk, keyboard = values.compositor, values.display, values.kiosk, values.input
    rotation = display.rotation if display.rotation is not None else (
        kiosk.rotation if values.system.mode == "kiosk" else 0)
    try:
        background = _colour(own.background)
    except ValueError as error:
        problems.append(f"compositor.background: {error}")
        background = _colour(default_of(CompositorSettings, "background"))
    settings = CompositorOptions(
        runtime_dir=Path(own.runtime_dir), socket_name=own.socket,
        control_socket=paths.socket_path("compositor"), hal_socket=paths.socket_path("hal"),
        mode=values.system.mode, tiling=own.tiling, hide_cursor=kiosk.hide_cursor,
        layout=keyboard.layout, variant=keyboard.variant, options=keyboard.options,
        launcher_keys=own.launcher_keys, background=background, shell=values.shell)
    output = {"backend": display.backend, "rotation": rotation, "device": own.device,
              "size": (own.headless_width, own.headless_height)}
    return settings, output, problems
