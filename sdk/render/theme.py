"""One place for the look: colours, radii, spacing and type scale. Every widget painter reads
from a Theme so the OS shell and apps look like one system, and a dark variant is one object away."""

# ruff: noqa: RUF009 -- colour defaults are written as hex and parsed once (pure, immutable tuples)
from __future__ import annotations

from dataclasses import dataclass, field

from llmos.sdk.render.color import RGBA, parse_color


def _c(text: str) -> RGBA:
    return parse_color(text)


@dataclass(frozen=True)
class Theme:
    font_family: str = "DejaVu Sans"
    # text sizes in logical px for Text size="sm" | "md" | "lg" | "xl"
    font_sizes: dict[str, float] = field(
        default_factory=lambda: {"sm": 12.0, "md": 14.0, "lg": 18.0, "xl": 40.0})

    background: RGBA = _c("#f5f6f8")
    surface: RGBA = _c("#ffffff")
    text: RGBA = _c("#1c1f24")
    muted: RGBA = _c("#6b7280")
    border: RGBA = _c("#d5d9e0")
    border_hover: RGBA = _c("#aab2bf")
    hover: RGBA = _c("#eef1f5")
    accent: RGBA = _c("#2f6fed")
    accent_hover: RGBA = _c("#255fd6")
    accent_pressed: RGBA = _c("#1d4fb8")
    on_accent: RGBA = _c("#ffffff")
    selection: RGBA = _c("#dbe6fd")
    disabled: RGBA = _c("#c3c8d0")
    disabled_text: RGBA = _c("#8a919c")
    title_bar: RGBA = _c("#e8ebf0")
    focus_ring: RGBA = (0.184, 0.435, 0.929, 0.40)
    scrollbar: RGBA = (0.0, 0.0, 0.0, 0.28)

    radius: float = 8.0          # buttons, inputs, lists
    small_radius: float = 4.0    # checkbox box
    focus_width: float = 3.0     # ring drawn outside the widget box
    window_padding: float = 16.0
    window_gap: float = 12.0
    title_height: float = 36.0

    button_pad_x: float = 16.0
    control_height: float = 36.0     # Button, TextInput
    input_pad_x: float = 10.0
    input_min_width: float = 220.0
    checkbox_size: float = 18.0
    slider_min_width: float = 220.0
    slider_height: float = 28.0
    slider_track: float = 4.0
    slider_thumb: float = 9.0        # radius
    list_row_height: float = 32.0
    list_pad_x: float = 10.0
    list_default_height: float = 200.0
    list_min_width: float = 220.0
    scrollbar_width: float = 4.0

    def font_size(self, name: str) -> float:
        return self.font_sizes.get(name, self.font_sizes["md"])


LIGHT = Theme()
DARK = Theme(
    background=_c("#1e2024"), surface=_c("#2a2d33"), text=_c("#e8eaed"), muted=_c("#9aa0a6"),
    border=_c("#3c4048"), border_hover=_c("#5a606b"), hover=_c("#33373e"), selection=_c("#2c4372"),
    title_bar=_c("#25282d"), disabled=_c("#444850"), disabled_text=_c("#7b818b"),
    scrollbar=(1.0, 1.0, 1.0, 0.3),
)
