"""The declarations themselves: every setting has a type, a default and a line of documentation, and
the values that used to disagree across modules now come from one declaration."""

from __future__ import annotations

import dataclasses

import pytest

from llmos import config
from llmos.settings import (
    SECTIONS,
    GatewaySettings,
    Settings,
    build,
    declarations,
    declared,
    default_of,
    defaults,
)


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_every_setting_is_declared_with_a_doc_and_a_default_of_its_type(name: str) -> None:
    section = SECTIONS[name]
    assert name == section.NAME and section.__doc__
    for declaration in declarations(section):
        assert declaration.declared.doc.strip(), f"{name}.{declaration.name} has no documentation"
        default, kind = declaration.default, declaration.kind
        if default is None:
            assert kind.optional, f"{name}.{declaration.name}: only an optional setting may default to unset"
        else:
            assert isinstance(default, kind.base), f"{name}.{declaration.name}: default {default!r}"
        for choice in declaration.declared.choices:
            assert isinstance(choice, kind.base)
        if default is not None and declaration.declared.choices:
            assert default in declaration.declared.choices


def test_sections_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.gateway.requests_per_minute = 1  # type: ignore[misc]


def test_defaults_build_the_default_settings() -> None:
    assert build(defaults()) == Settings()
    assert config.parse("").settings == Settings()
    assert config.parse("").problems == []


def test_cloud_model_is_declared_once() -> None:
    assert GatewaySettings().cloud_model == "claude-sonnet-4-6"
    assert config.parse("").section("gateway")["cloud_model"] == "claude-sonnet-4-6"


def test_the_prompt_limit_has_one_value_everywhere() -> None:
    from llmos.kernel.flow import MAX_PROMPT_CHARS as flow_limit
    from llmos.kernel.gateway.sanitize import MAX_PROMPT_CHARS as gateway_limit
    from llmos.kernel.registry.record import MAX_PROMPT_CHARS as storage_bound

    limit = default_of(GatewaySettings, "max_prompt_chars")
    assert flow_limit == gateway_limit == GatewaySettings().max_prompt_chars == limit == 4000
    assert storage_bound == declared(GatewaySettings, "max_prompt_chars").maximum
    assert storage_bound >= limit
    # A configured limit can never exceed what the registry stores.
    cfg = config.parse(f"[gateway]\nmax_prompt_chars = {storage_bound + 1}\n")
    assert cfg.settings.gateway.max_prompt_chars == storage_bound
    assert [p.where for p in cfg.problems] == ["gateway.max_prompt_chars"]
