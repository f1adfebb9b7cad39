"""Golden images: render sample trees and compare with PNGs committed under golden/.

Regenerate on purpose with `LLMOS_UPDATE_GOLDENS=1 .venv/bin/pytest tests/sdk/render/test_golden.py`
and look at the PNGs before committing them. Small tolerance: font rasterisation may differ by a
few levels between FreeType builds, so a pixel counts as different only beyond 24/255 in a channel,
and at most 0.5 % of pixels may differ.
"""

from __future__ import annotations

import os
from pathlib import Path

import cairocffi as cairo
import pytest

from llmos.sdk.render import DARK, Renderer, keys

from . import samples

GOLDEN = Path(__file__).parent / "golden"
CHANNEL_TOLERANCE = 24
PIXEL_FRACTION = 0.005


def differing_pixels(a: bytes, b: bytes) -> int:
    if a == b:
        return 0
    count = 0
    for i in range(0, len(a), 4):
        if a[i:i + 4] != b[i:i + 4] and max(abs(x - y) for x, y in zip(a[i:i + 4], b[i:i + 4],
                                                                       strict=True)) > CHANNEL_TOLERANCE:
            count += 1
    return count


def check_golden(renderer: Renderer, name: str) -> None:
    path = GOLDEN / f"{name}.png"
    surface = renderer.surface()
    if os.environ.get("LLMOS_UPDATE_GOLDENS") == "1":
        GOLDEN.mkdir(exist_ok=True)
        surface.write_to_png(str(path))
    assert path.exists(), f"no golden {path}; run with LLMOS_UPDATE_GOLDENS=1 to create it"
    golden = cairo.ImageSurface.create_from_png(str(path))
    assert (golden.get_width(), golden.get_height()) == (surface.get_width(), surface.get_height())
    want = bytes(golden.get_data())
    got = bytes(renderer.pixels())
    bad = differing_pixels(want, got)
    total = surface.get_width() * surface.get_height()
    if bad > total * PIXEL_FRACTION:
        surface.write_to_png(str(Path(os.environ.get("TMPDIR", "/tmp")) / f"{name}.actual.png"))
    assert bad <= total * PIXEL_FRACTION, f"{name}: {bad} of {total} pixels differ from {path}"


@pytest.mark.parametrize("scale", [1, 2])
def test_pomodoro_matches_golden(scale: int) -> None:
    renderer = Renderer(scale=scale)
    assert renderer.render(samples.pomodoro())
    check_golden(renderer, f"pomodoro@{scale}x")


def test_widgets_with_focus_and_selection_match_golden() -> None:
    renderer = Renderer()
    renderer.render(samples.widgets(value="Buy milk"))
    renderer.key(keys.TAB, True)  # focus the TextInput: accent border and caret
    lst = renderer.find(lambda n: n.type == "List")
    renderer.pointer_motion(lst.x + 20, lst.y + 40)
    renderer.axis(0, 30)
    renderer.render()
    check_golden(renderer, "widgets")


def test_dark_theme_matches_golden() -> None:
    renderer = Renderer(theme=DARK, title_bar=False)
    renderer.render(samples.pomodoro(running=True, minutes=5))
    check_golden(renderer, "pomodoro-dark")


def test_golden_comparison_catches_a_changed_picture() -> None:
    """The comparison itself must fail on a real difference (a different label)."""
    start, pause = Renderer(), Renderer()
    start.render(samples.pomodoro(running=False))
    pause.render(samples.pomodoro(running=True))
    assert differing_pixels(bytes(start.pixels()), bytes(pause.pixels())) > 50
