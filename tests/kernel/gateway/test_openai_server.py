"""The openai provider against a real OpenAI-compatible server: llama-cpp-python's `llama_cpp.server`
serving the embedded GGUF on 127.0.0.1 — streaming, schema-constrained output, cancellation, the
server killed mid-answer, a wrong model name, a wrong key, a timeout, and the health the CLI shows."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from llmos.kernel.gateway import GatewayError, Generation, Progress, cli
from llmos.kernel.gateway import model as model_files
from llmos.kernel.gateway.health import overview
from llmos.kernel.gateway.openai_provider import OpenAIProvider
from llmos.settings import GatewaySettings
from llmos.settings.sections import ProviderSettings

from .conftest import make_gateway
from .llama_server import ALIAS, KEY, LlamaServer


@pytest.fixture(scope="module")
def model_path() -> Path:
    return model_files.locate(GatewaySettings()).path


@pytest.fixture(scope="module")
def server(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    running = LlamaServer(model_path, tmp_path_factory.mktemp("llama") / "server.log").start()
    yield running
    running.stop()


def provider(url: str, name: str = "office", **overrides: Any) -> dict[str, Any]:
    """A spec-tier entry, as [[gateway.providers]] would give it. Unconstrained: llama-cpp-python's
    server cannot turn every app-language schema into a grammar (a `\\.` in a pattern ends the
    process), so schemas are tested on their own (test_a_json_schema_constrains_the_answer)."""
    return {"name": name, "base_url": url, "model": ALIAS, "key": KEY, "tier": "spec",
            "constrain": "none", "max_tokens": 40, "timeout": 120.0, **overrides}


def gateway_for(*entries: dict[str, Any], **overrides: Any) -> Any:
    return make_gateway(providers=list(entries), default_provider=entries[0]["name"], **overrides)


async def collect(gateway: Any, prompt: str, **kw: Any) -> tuple[list[Progress], Generation]:
    events = [event async for event in gateway.generate(prompt, app_id="tea", **kw)]
    result = events[-1]
    assert isinstance(result, Generation)
    return [e for e in events if isinstance(e, Progress)], result


def test_spec_tier_streams_a_spec_through_the_server(server: LlamaServer) -> None:
    gateway = gateway_for(provider(server.url))
    progress, result = asyncio.run(collect(gateway, "a tea timer", only="office"))
    assert (result.provider, result.model) == ("office", ALIAS) and result.spec is not None
    assert "export default function App" in result.code and "ui:window" in result.manifest.scopes
    assert sum(p.phase == "generating" for p in progress) >= 3  # streamed, not one blob
    assert result.usage.output_tokens > 0 and result.usage.prompt_tokens > 0
    row = gateway.ledger.audit_rows(1)[0]
    assert (row["provider"], row["model"], row["outcome"], row["app"]) == ("office", ALIAS, "ok", "tea")
    assert gateway.ledger.spent("tea")[0] == result.usage.total


def test_a_json_schema_constrains_the_answer(server: LlamaServer) -> None:
    schema = {"type": "object", "properties": {"colour": {"enum": ["red", "green", "blue"]}},
              "required": ["colour"], "additionalProperties": False}
    entry = ProviderSettings(**provider(server.url, constrain="json_object"))

    async def ask() -> str:
        office = OpenAIProvider.from_settings(entry)
        try:
            chunks = [c async for c in office.complete(
                [{"role": "user", "content": "Name a colour of the sky."}], 30, schema=schema)]
        finally:
            await office.close()
        assert chunks[-1].done and chunks[-1].finish_reason == "stop"
        return "".join(c.text for c in chunks)

    answer = json.loads(asyncio.run(ask()))
    assert set(answer) == {"colour"} and answer["colour"] in ("red", "green", "blue")


def test_cancelling_mid_stream_stops_the_answer(server: LlamaServer) -> None:
    gateway = gateway_for(provider(server.url, max_tokens=200))

    async def cancel_then_ask() -> Generation:
        async with aclosing(gateway.generate("a water reminder", only="office")) as events:
            async for event in events:
                if isinstance(event, Progress) and event.phase == "generating":
                    break  # the user pressed Cancel
        return (await collect(gateway, "a counter", only="office"))[1]

    after = asyncio.run(cancel_then_ask())
    outcomes = [r["outcome"] for r in reversed(gateway.ledger.audit_rows(2))]
    assert outcomes == ["cancelled", "ok"]  # and the server was free for the next answer
    assert after.provider == "office"


def test_server_killed_mid_answer_falls_back_with_a_clear_event(
        model_path: Path, tmp_path: Path, local_model: Any) -> None:
    doomed = LlamaServer(model_path, tmp_path / "doomed.log").start()
    gateway = gateway_for(provider(doomed.url, "doomed", max_tokens=200), local_max_tokens=30)
    gateway.local = local_model  # next in the order: the default, then the embedded model

    async def run() -> tuple[list[Progress], Generation]:
        progress: list[Progress] = []
        async for event in gateway.generate("a tea timer"):
            if isinstance(event, Generation):
                return progress, event
            progress.append(event)
            if event.phase == "generating" and doomed.process and doomed.process.poll() is None:
                doomed.kill()  # mid-answer: some tokens are out, the rest never come
        raise AssertionError("no generation")

    try:
        progress, result = asyncio.run(run())
    finally:
        doomed.stop()
    fallback = [p for p in progress if p.phase == "fallback"]
    assert len(fallback) == 1 and "doomed:" in fallback[0].detail and "trying local" in fallback[0].detail
    assert "broke the connection after" in fallback[0].detail
    assert result.provider == "local" and result.notes[0].startswith("fallback after: doomed:")
    rows = [(r["provider"], r["outcome"], r["output_sha256"]) for r in reversed(gateway.ledger.audit_rows(2))]
    assert rows[0][:2] == ("doomed", "error") and rows[0][2] is None  # nothing kept from the broken answer
    assert rows[1][:2] == ("local", "ok")


def test_wrong_model_name_is_named_and_shown_in_health(server: LlamaServer) -> None:
    gateway = gateway_for(provider(server.url, model="no-such-model"))
    served = r"does not serve model 'no-such-model' \(it serves: gemma-3-270m\)"
    with pytest.raises(GatewayError, match=served):
        asyncio.run(collect(gateway, "a tea timer", only="office"))
    found = asyncio.run(overview(gateway)).providers
    office = next(p for p in found if p.name == "office")
    assert (office.reachable, office.model_present, office.default) == (True, False, True)
    assert "no-such-model" in office.last_error and "gemma-3-270m" in office.detail


def test_wrong_key_is_refused_and_falls_back(server: LlamaServer, local_model: Any) -> None:
    gateway = gateway_for(provider(server.url, key="sk-wrong"), local_max_tokens=30)
    gateway.local = local_model
    progress, result = asyncio.run(collect(gateway, "a tea timer"))
    assert result.provider == "local"
    assert any(p.phase == "fallback" and "refused the API key (HTTP 401)" in p.detail for p in progress)
    office = next(p for p in asyncio.run(overview(gateway)).providers if p.name == "office")
    assert office.reachable is True and office.model_present is None and "401" in office.detail


def test_an_answer_slower_than_the_timeout_is_stopped(server: LlamaServer) -> None:
    gateway = gateway_for(provider(server.url, timeout=1.0, max_tokens=400))
    with pytest.raises(GatewayError, match=r"did not finish within 1 s \(timeout\)"):
        asyncio.run(collect(gateway, "a todo list I can keep with a reminder and a counter", only="office"))
    assert gateway.ledger.audit_rows(1)[0]["outcome"] == "error"
    server.wait_ready()  # it finishes reading the abandoned prompt before it notices the hang-up


def test_cli_lists_providers_with_health_and_tries_one(
        server: LlamaServer, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (isolated / "absent.toml").write_text(f"""
[gateway]
default_provider = "office"
[[gateway.providers]]
name = "office"
base_url = "{server.url}"
model = "{ALIAS}"
key = "{KEY}"
tier = "spec"
constrain = "none"
max_tokens = 40
[[gateway.providers]]
name = "broken"
base_url = "{server.url}"
model = "{ALIAS}"
tier = "fast"
""")
    parser = argparse.ArgumentParser(prog="llmos")
    cli.add_commands(parser.add_subparsers(dest="command", required=True))

    def run(*argv: str) -> int:
        args = parser.parse_args(["gateway", *argv])
        return int(args.run(args))

    assert run("providers") == 0
    lines = capsys.readouterr().out.splitlines()
    office = next(line for line in lines if " office " in line)
    assert office.startswith("*") and "reachable=yes" in office and "model=yes" in office
    assert any(line.startswith("problem: gateway.providers[1].tier: expected one of") and
               "this provider is disabled" in line for line in lines)
    assert not any(" broken " in line for line in lines)
    assert run("try", "--provider", "office", "a tea timer", "--json") == 0
    assert json.loads(capsys.readouterr().out)["provider"] == "office"
    assert run("try", "--provider", "nobody", "a tea timer") == 1
    assert "no provider called 'nobody'" in capsys.readouterr().err
