"""Saving one setting keeps the user's arrays of tables ([[gateway.providers]]) intact."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos import config


def test_saving_a_setting_keeps_an_array_of_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOS_STATE_DIR", str(tmp_path / "state"))
    user = config.user_settings_file()
    user.parent.mkdir(parents=True)
    user.write_text('[gateway]\n[[gateway.providers]]\nname = "office"\nbase_url = "http://10.0.2.2:8080/v1"\n'
                    'model = "gemma"\ntimeout = 60.0\n\n[[gateway.providers]]\nname = "gpu"\n'
                    'base_url_credential = "llmos_provider_url"\nmodel = "qwen"\n')
    config.save_user_setting("gateway", "default_provider", "gpu")
    loaded = config.load(tmp_path / "absent.toml")
    assert loaded.problems == []
    gateway = loaded.settings.gateway
    assert gateway.default_provider == "gpu"
    assert [(p.name, p.base_url, p.base_url_credential, p.model, p.timeout) for p in gateway.providers] == [
        ("office", "http://10.0.2.2:8080/v1", "", "gemma", 60.0),
        ("gpu", "", "llmos_provider_url", "qwen", 180.0)]
