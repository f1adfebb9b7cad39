"""Pure pieces: rotation maths, damage merging, configuration."""

from __future__ import annotations

import pytest

from llmos import config
from llmos.compositor import settings
from llmos.compositor.outputs import Transform
from llmos.compositor.scene import Damage, Rect


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_rotation_maps_logical_to_physical_and_back(rotation: int) -> None:
    transform = Transform(rotation, 800, 600)
    width, height = transform.logical_size
    assert (width, height) == ((600, 800) if rotation in (90, 270) else (800, 600))
    matrix = transform.matrix()
    for lx, ly in ((0.0, 0.0), (10.0, 20.0), (width - 1.0, height - 1.0)):
        px, py = matrix.transform_point(lx, ly)
        assert 0 <= px <= 800 and 0 <= py <= 600
        assert transform.to_logical(px, py) == pytest.approx((lx, ly))


def test_rotated_rect_and_mouse_delta() -> None:
    transform = Transform(90, 800, 600)
    assert transform.rect_to_physical(Rect(0, 0, 10, 20)) == Rect(780, 0, 20, 10)
    assert transform.delta_to_logical(5, 0) == (0, -5)


def test_damage_collapses_into_bounding_box() -> None:
    damage = Damage()
    for i in range(Damage.LIMIT + 1):
        damage.add(Rect(i * 10, 0, 5, 5))
    assert damage.take() == [Rect(0, 0, Damage.LIMIT * 10 + 5, 5)]
    damage.add(Rect(0, 0, 10, 10))
    damage.add(Rect(2, 2, 3, 3))  # already covered
    assert damage.take() == [Rect(0, 0, 10, 10)]


def test_settings_read_shared_sections_and_report_bad_values() -> None:
    cfg = config.parse('[system]\nmode = "kiosk"\n[kiosk]\nrotation = 45\n[input]\nlayout = "de"\n'
                       '[compositor]\nbackground = "nope"\n')
    loaded, output, problems = settings.load(cfg)
    assert loaded.mode == "kiosk" and loaded.layout == "de" and loaded.hide_cursor
    assert output["rotation"] == 0 and output["backend"] == "auto"
    assert any("rotation" in p for p in problems) and any("background" in p for p in problems)
