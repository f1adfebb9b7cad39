"""Which renderer app hosts get: a window only when one is asked for and the compositor's socket
exists, and then with the environment a Wayland client needs."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from llmos import config
from llmos.kernel import display


@pytest.fixture
def compositor_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> config.Config:
    for name in ("WAYLAND_DISPLAY", "XDG_RUNTIME_DIR"):  # empty counts as unset; restored afterwards
        monkeypatch.setenv(name, "")
    return config.parse(f'[compositor]\nruntime_dir = "{tmp_path}"\nsocket = "wayland-test"\n')


def test_headless_until_the_compositors_socket_exists(tmp_path: Path, compositor_settings) -> None:
    assert display.renderer("wayland", compositor_settings) == "null"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "wayland-test"))
        assert display.renderer("wayland", compositor_settings) == "wayland"
        assert display.find_wayland(compositor_settings) == tmp_path / "wayland-test"


def test_the_socket_found_is_handed_on_in_the_environment(tmp_path: Path, compositor_settings) -> None:
    (tmp_path / "wayland-test").touch()
    display.find_wayland(compositor_settings)
    assert (os.environ["XDG_RUNTIME_DIR"], os.environ["WAYLAND_DISPLAY"]) == (str(tmp_path), "wayland-test")


def test_headless_when_asked_even_with_a_compositor(tmp_path: Path, compositor_settings) -> None:
    (tmp_path / "wayland-test").touch()
    assert display.renderer("null", compositor_settings) == "null"


def test_pid_1s_environment_wins_when_its_socket_exists(tmp_path: Path, compositor_settings,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "elsewhere").touch()
    monkeypatch.setenv("WAYLAND_DISPLAY", str(tmp_path / "elsewhere"))
    assert display.find_wayland(compositor_settings) == tmp_path / "elsewhere"
