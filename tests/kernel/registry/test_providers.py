"""Finding installed apps that provide functions, for a generator (kernel/registry/providers.py): scored
against the request over each app's prompt and functions, one entry per identity, trusted and intact
records only."""

from __future__ import annotations

from llmos.kernel import starter
from llmos.kernel.registry import Registry
from llmos.kernel.registry.providers import providing_apps
from llmos.kernel.registry.record import code_hash
from llmos.kernel.versions.lineage import identity_for

RATES = ("import { ui, apps } from '@llm-os/sdk';\n"
         "apps.provide('rate', (pair: any) => 1.1, 'rate({from, to}) -> exchange rate of two currencies');\n"
         "export default function App() { return ui.Window({ title: 'Rates' }, []); }\n")


def test_the_request_finds_the_apps_that_provide_what_it_needs(registry: Registry) -> None:
    starter.seed(registry)
    rates = registry.add("Currency exchange rates", RATES, "m", ["ui:window"])
    converter = identity_for(code_hash(next(s for s in starter.STARTERS if s.name == "converter").code))

    found = providing_apps(registry, "a budget app that uses my currency converter", identity_for)
    assert {app.identity for app in found} == {converter, identity_for(rates.codeHash)}
    found = providing_apps(registry, "a trip log in kilometres that uses my unit converter", identity_for)
    assert found[0].identity == converter and [f.name for f in found[0].functions] == ["convert"]
    assert found[0].scope("convert") == f"app:{converter}/convert"
    assert found[0].lines()[0].startswith(f"{converter}/convert: convert({{value: number")
    exchange = providing_apps(registry, "show the exchange rate of euros to dollars", identity_for)
    assert [app.identity for app in exchange] == [identity_for(rates.codeHash)]
    assert providing_apps(registry, "a pomodoro timer", identity_for) == []


def test_one_entry_per_identity(registry: Registry) -> None:
    first = registry.add("Currency exchange rates", RATES, "m", ["ui:window"])
    registry.add("Currency exchange rates", RATES.replace("1.1", "1.2"), "m", ["ui:window"],
                 parent=first.codeHash)
    found = providing_apps(registry, "currency rates", lambda digest: "app-rates")
    assert len(found) == 1 and found[0].identity == "app-rates"


def test_an_app_no_trusted_key_vouches_for_is_never_listed(registry: Registry, monkeypatch) -> None:
    registry.add("Currency exchange rates", RATES, "m", ["ui:window"])
    assert providing_apps(registry, "currency rates", identity_for)
    monkeypatch.setattr(registry, "untrusted", lambda authors: list(authors))  # as if pulled from a stranger
    assert providing_apps(registry, "currency rates", identity_for) == []
