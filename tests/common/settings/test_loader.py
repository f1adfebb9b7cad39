"""Loading llmos.toml into the declared settings: bad values are located and replaced, unknown keys are
warned about and harmless, the user's file overlays the system file."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos import config
from llmos.settings import GatewaySettings, SandboxSettings, ShellSettings


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLMOS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LLMOS_CONFIG", str(tmp_path / "llmos.toml"))
    return tmp_path


def test_a_bad_value_is_one_located_problem_and_the_default() -> None:
    loaded = config.parse('[gateway]\nrequests_per_minute = "x"\ndaily_token_budget = 5\n')
    assert [str(p) for p in loaded.problems] == [
        'gateway.requests_per_minute: expected an integer, got "x"; using 30']
    assert loaded.settings.gateway.requests_per_minute == 30
    assert loaded.settings.gateway.daily_token_budget == 5  # the good value next to it still applies


@pytest.mark.parametrize("text, where, expected", [
    ("[sandbox]\nmemory_mb = true\n", "sandbox.memory_mb", "expected an integer, got true; using 32"),
    ("[gateway]\ncloud_timeout = \"slow\"\n", "gateway.cloud_timeout", 'expected a number, got "slow"'),
    ('[compositor]\nlauncher_keys = ["super", 1]\n', "compositor.launcher_keys", "a list of strings"),
    ("[system]\nmode = \"tablet\"\n", "system.mode", 'expected one of "desktop", "kiosk", got "tablet"'),
    ("[display]\nrotation = 45\n", "display.rotation", "expected one of 0, 90, 180, 270, got 45; leaving it"),
    ("[shell]\nsuggestions = 0\n", "shell.suggestions", "expected at least 1, got 0; using 1"),
    ("[network]\ninterfaces = 3\n", "network.interfaces", "expected a table, got 3"),
    ("kiosk = 1\n", "kiosk", "expected a table"),
])
def test_each_kind_of_bad_value_is_reported_where_it_is(text: str, where: str, expected: str) -> None:
    problems = config.parse(text).problems
    assert len(problems) == 1 and problems[0].where == where and not problems[0].warning
    assert expected in problems[0].message


def test_values_are_typed_and_an_integer_is_a_number() -> None:
    text = '[gateway]\ncloud_timeout = 10\n[compositor]\nlauncher_keys = ["super"]\n'
    settings = config.parse(text).settings
    assert settings.gateway.cloud_timeout == 10.0 and isinstance(settings.gateway.cloud_timeout, float)
    assert settings.compositor.launcher_keys == ("super",)


def test_out_of_range_is_clamped() -> None:
    loaded = config.parse("[shell]\nsuggestions = 50\n")
    assert loaded.settings.shell.suggestions == 20
    assert [p.where for p in loaded.problems] == ["shell.suggestions"]


def test_unknown_keys_are_warnings_and_harmless() -> None:
    loaded = config.parse('[gateway]\nrequest_per_minute = 5\n[colours]\nsky = "blue"\n')
    assert [(p.where, p.warning) for p in loaded.problems] == [
        ("gateway.request_per_minute", True), ("colours", True)]
    assert loaded.settings == config.parse("").settings


def test_free_form_tables_are_kept_as_given() -> None:
    loaded = config.parse('[services.hal]\nmemory_max = "256M"\n[network.interfaces.eth0]\ndhcp = false\n')
    assert loaded.problems == []
    assert loaded.settings.services == {"hal": {"memory_max": "256M"}}
    assert loaded.settings.network.interfaces == {"eth0": {"dhcp": False}}


def test_the_user_file_overlays_the_system_file(tmp_path: Path) -> None:
    system = tmp_path / "llmos.toml"
    system.write_text('[gateway]\nrequests_per_minute = 60\ncloud_model = "claude-opus-4"\n'
                      '[network.interfaces.eth0]\ndhcp = false\n')
    user = config.user_settings_file()
    user.parent.mkdir(parents=True)
    user.write_text('[gateway]\nrequests_per_minute = "many"\ncloud_model = "claude-haiku-4"\n'
                    '[network.interfaces.eth1]\ndhcp = true\n')
    loaded = config.load()
    gateway = loaded.settings.gateway
    assert gateway.cloud_model == "claude-haiku-4"  # the user's value wins
    assert gateway.requests_per_minute == 60  # a bad user value keeps the system file's value
    assert [str(p) for p in loaded.problems] == [
        'gateway.requests_per_minute: expected an integer, got "many"; using 60']
    assert set(loaded.settings.network.interfaces) == {"eth0", "eth1"}  # tables merge key by key
    assert loaded.section("gateway")["cloud_model"] == gateway.cloud_model  # both views agree


def test_a_broken_file_gives_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "llmos.toml").write_text("[gateway\n")
    loaded = config.load()
    assert loaded.settings.gateway == GatewaySettings()
    assert len(loaded.problems) == 1 and "ignoring this file" in str(loaded.problems[0])


def test_section_load_applies_checked_overrides(tmp_path: Path) -> None:
    (tmp_path / "llmos.toml").write_text("[sandbox]\nmemory_mb = 8\n")
    assert SandboxSettings.load().memory_mb == 8
    assert SandboxSettings.load({"max_nodes": 10}) == SandboxSettings(memory_mb=8, max_nodes=10)
    with pytest.raises(ValueError, match=r"sandbox\.max_nodes: expected an integer"):
        SandboxSettings.load({"max_nodes": "ten"})
    with pytest.raises(ValueError, match=r"sandbox\.max_node: unknown setting"):
        SandboxSettings.load({"max_node": 10})
    assert ShellSettings.load() == ShellSettings()
