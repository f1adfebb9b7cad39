"""llmos.toml: a broken file never stops the boot, and user settings overlay the system file."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos import config
from llmos.settings import GatewaySettings


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLMOS_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    loaded = config.load(tmp_path / "absent.toml")
    assert loaded.problems == []
    assert loaded.section("input")["layout"] == "us"


def test_malformed_file_is_located_and_defaults_apply(tmp_path: Path) -> None:
    path = tmp_path / "llmos.toml"
    path.write_text("[input]\nlayout = \n")
    loaded = config.load(path)
    assert loaded.section("input")["layout"] == "us"
    assert len(loaded.problems) == 1
    assert str(path) in str(loaded.problems[0]) and "line 2" in str(loaded.problems[0])


def test_wrong_type_keeps_default_and_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "llmos.toml"
    path.write_text('[gateway]\ndaily_token_budget = "lots"\n[input]\nlayout = "de"\n')
    loaded = config.load(path)
    assert loaded.section("gateway")["daily_token_budget"] == GatewaySettings().daily_token_budget
    assert loaded.settings.gateway.daily_token_budget == GatewaySettings().daily_token_budget
    assert loaded.section("input")["layout"] == loaded.settings.input.layout == "de"
    assert [p.where for p in loaded.problems] == ["gateway.daily_token_budget"]


def test_user_settings_overlay_system_file_and_survive_reload(tmp_path: Path) -> None:
    system = tmp_path / "llmos.toml"
    system.write_text('[input]\nlayout = "de"\n[system]\nmode = "desktop"\n')
    config.save_user_setting("input", "layout", "fr")
    config.save_user_setting("kiosk", "app", 'sha256:"quoted"')
    loaded = config.load(system)
    assert loaded.section("input")["layout"] == "fr"
    assert loaded.section("kiosk")["app"] == 'sha256:"quoted"'
    assert loaded.section("system")["mode"] == "desktop"
    assert not list((tmp_path / "state").glob("*.tmp"))


def test_saving_a_setting_keeps_nested_tables_and_refuses_a_broken_file(tmp_path: Path) -> None:
    user = config.user_settings_file()
    user.parent.mkdir(parents=True)
    user.write_text('[network.interfaces.eth0]\naddress = "10.0.0.5/24"\n'
                    '[services.hal]\nmemory_max = "256M"\n')
    config.save_user_setting("input", "layout", "de")
    loaded = config.load(tmp_path / "absent.toml")
    assert loaded.section("network")["interfaces"]["eth0"]["address"] == "10.0.0.5/24"
    assert loaded.section("services")["hal"]["memory_max"] == "256M"
    assert loaded.section("input")["layout"] == "de"
    user.write_text("[input\nlayout = ")
    with pytest.raises(ValueError, match="fix or remove it"):
        config.save_user_setting("input", "layout", "fr")
    assert user.read_text() == "[input\nlayout = "
