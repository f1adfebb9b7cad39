"""Prebuilt Cairo/Pango bindings: the same pixels as the parsed ones, no pycparser at import, and the
packages' own parse whenever the stamp does not match. Each case runs in a fresh interpreter, since an
import hook and already imported bindings cannot be undone in this one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos import prebuilt_ffi
from llmos.compositor import libwayland

REPO = Path(__file__).resolve().parents[2]
# Draws every widget, then reports which ffi class each package got, whether pycparser was imported
# (it is only needed to parse declarations), whether hashlib was (it loads OpenSSL) and a checksum of the
# pixels.
DRAW = """
import ctypes.util, json, sys, zlib
searched = []
search = ctypes.util.find_library
ctypes.util.find_library = lambda name: searched.append(name) or search(name)
sys.path.insert(0, sys.argv[1])
from sdk.render.samples import widgets
from llmos.sdk.render import Renderer
import cairocffi, pangocffi, pangocairocffi
renderer = Renderer()
renderer.render(widgets())
print(json.dumps({"ffi": [type(m.ffi).__module__ for m in (cairocffi, pangocffi, pangocairocffi)],
                  "pycparser": "pycparser" in sys.modules, "searched": searched,
                  "hashlib": "hashlib" in sys.modules, "pixels": zlib.crc32(bytes(renderer.pixels()))}))
"""


def draw(ffi_dir: Path | None) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "LLMOS_FFI_DIR"}
    if ffi_dir is not None:
        env["LLMOS_FFI_DIR"] = str(ffi_dir)
    done = subprocess.run([sys.executable, "-c", DRAW, str(REPO / "tests")], capture_output=True, text=True,
                          env=env, timeout=120, check=True)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def prebuilt(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("ffi")
    written = prebuilt_ffi.generate(target)
    expected = sorted(f"{name}.py" for name in (*prebuilt_ffi.REPLACES.values(), libwayland.PREBUILT))
    assert sorted(path.name for path in written) == expected
    return target


def test_prebuilt_bindings_draw_the_same_pixels_without_parsing(prebuilt: Path) -> None:
    parsed, fast = draw(None), draw(prebuilt)
    assert parsed["ffi"] == ["cffi.api"] * 3 and parsed["pycparser"]
    assert fast["ffi"] == ["_cffi_backend"] * 3, "every package got its prebuilt ffi"
    assert not fast["pycparser"], "nothing parsed C declarations"
    assert not fast["hashlib"], "checking the stamp loaded no OpenSSL"
    assert fast["pixels"] == parsed["pixels"]
    assert len(parsed["searched"]) >= 6  # each package asks ldconfig (or gcc) for its libraries
    assert fast["searched"] == [], "the libraries the build found were used, not searched for again"


def test_recorded_libraries_that_do_not_load_fall_back_to_the_packages_search(prebuilt: Path,
                                                                               tmp_path: Path) -> None:
    for path in prebuilt.iterdir():
        if path.is_file():
            (tmp_path / path.name).write_bytes(path.read_bytes())
    libraries = json.loads((prebuilt / prebuilt_ffi.LIBRARIES).read_text())
    assert libraries["cairo"]["cairo"].startswith("libcairo.so")
    assert set(libraries["locations"]) == {"PANGO_LOCATION", "GOBJECT_LOCATION", "GLIB_LOCATION",
                                           "PANGOCAIRO_LOCATION"}
    wrong = {"cairo": dict.fromkeys(libraries["cairo"], "libnothing.so.9"),
             "locations": dict.fromkeys(libraries["locations"], "libnothing.so.9")}
    (tmp_path / prebuilt_ffi.LIBRARIES).write_text(json.dumps(wrong))
    assert draw(tmp_path)["pixels"] == draw(prebuilt)["pixels"]


def test_a_stamp_from_other_packages_falls_back_to_parsing(prebuilt: Path, tmp_path: Path) -> None:
    for module in prebuilt.glob("*.py"):
        (tmp_path / module.name).write_bytes(module.read_bytes())
    stamp = json.loads((prebuilt / prebuilt_ffi.STAMP).read_text())
    (tmp_path / prebuilt_ffi.STAMP).write_text(json.dumps({**stamp, "declarations": "0" * 64}))
    stale = draw(tmp_path)
    assert stale["ffi"] == ["cffi.api"] * 3 and stale["pycparser"]


def test_without_a_stamp_nothing_is_hooked(tmp_path: Path) -> None:
    assert not prebuilt_ffi.install(tmp_path)
    assert draw(tmp_path)["ffi"] == ["cffi.api"] * 3


# The compositor's own libwayland-server declarations: which ffi compat.py got, and whether pycparser
# (needed only to parse declarations) was imported for it.
WAYLAND = """
import json, sys
from llmos.compositor import compat
print(json.dumps({"prebuilt": compat.wl_ffi is getattr(sys.modules.get("llmos_ffi_wayland"), "ffi", None),
                  "pycparser": "pycparser" in sys.modules,
                  "stride": compat.wl_ffi.typeof(compat.wl.wl_shm_buffer_get_stride).cname}))
"""


@pytest.mark.parametrize("with_prebuilt", [True, False])
def test_the_compositors_own_declarations_come_prebuilt(prebuilt: Path, with_prebuilt: bool) -> None:
    env = {key: value for key, value in os.environ.items() if key != "LLMOS_FFI_DIR"}
    env["LLMOS_FFI_DIR"] = str(prebuilt if with_prebuilt else prebuilt / "absent")
    done = subprocess.run([sys.executable, "-c", WAYLAND], capture_output=True, text=True, env=env,
                          timeout=120, check=True)
    found = json.loads(done.stdout)
    assert found["prebuilt"] is with_prebuilt and found["pycparser"] is not with_prebuilt
    assert found["stride"] == "int32_t(*)(struct wl_shm_buffer *)"  # the same function either way
