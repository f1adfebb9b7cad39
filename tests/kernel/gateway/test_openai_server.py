"""The openai provider against a real OpenAI-compatible server: llama-cpp-python's `llama_cpp.server`
serving the embedded GGUF on 127.0.0.1 — streaming, schema-constrained output, cancellation, the
server killed mid-answer, a wrong model name, a wrong key, a timeout, and the health the CLI shows."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from llmos.kernel.applang.generation import steps
from llmos.kernel.applang.repair import Outcome
from llmos.kernel.gateway import GatewayError, Generation, Progress, cli
from llmos.kernel.gateway import model as model_files
from llmos.kernel.gateway.health import overview
from llmos.kernel.gateway.openai_provider import OpenAIProvider
from llmos.settings import GatewaySettings
from llmos.settings.sections import ProviderSettings

from .conftest import make_gateway
from .llama_server import ALIAS, KEY, LlamaServer, grammar_verdicts


@pytest.fixture(scope="module")
def model_path() -> Path:
    return model_files.locate(GatewaySettings()).path


@pytest.fixture(scope="module")
def server(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    running = LlamaServer(model_path, tmp_path_factory.mktemp("llama") / "server.log").start()
    yield running
    running.stop()


def provider(url: str, name: str = "office", **overrides: Any) -> dict[str, Any]:
    """A spec-tier entry, as [[gateway.providers]] would give it. Unconstrained, for speed: these tests
    are about the transport, and this server checks every one of Gemma's 262k tokens against a
    grammar at each step. Schemas are tested on their own (test_an_adapted_template_..., below)."""
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


def spy_on(office: OpenAIProvider) -> list[Any]:
    """The response_format of each request the SDK sends (the real request goes on to the server)."""
    sent: list[Any] = []
    completions = office.client.chat.completions
    create = completions.create

    async def recording(**options: Any) -> Any:
        sent.append(options.get("response_format"))
        return await create(**options)

    completions.create = recording
    return sent


def holds(schema: dict[str, Any], value: Any) -> bool:
    """Whether `value` matches a schema of the forms adapt.template_schema writes."""
    if "const" in schema:
        return bool(value == schema["const"])
    if schema["type"] == "object":
        return (isinstance(value, dict) and list(value) == schema["required"] == list(schema["properties"])
                and all(holds(schema["properties"][key], item) for key, item in value.items()))
    if schema["type"] == "array":
        return (isinstance(value, list) and len(value) == len(schema["prefixItems"])
                and all(holds(part, item) for part, item in zip(schema["prefixItems"], value, strict=True)))
    assert schema["type"] == "string", schema
    longest = schema.get("maxLength", 10**6)
    return (isinstance(value, str) and schema.get("minLength", 0) <= len(value) <= longest
            and re.fullmatch(schema.get("pattern", ".*"), value, re.S) is not None)


def test_every_template_schema_is_a_grammar_this_server_builds_and_holds_its_example_to() -> None:
    """llama-cpp-python's converter (llama_grammar.py) copies `\\.`, `\\ ` and `\\-` into its grammar, which
    llama.cpp rejects, and the server then dies; adapt.template_schema writes patterns it converts
    correctly. For every example: the grammar parses, the example's own document passes it to the
    end, and one with a changed fixed value does not (llama.cpp's grammar sampler, in a subprocess)."""
    from llmos.kernel.applang.adapt import template, template_schema
    from llmos.kernel.applang.retrieval import library
    from llmos.kernel.applang.schema import canonical

    cases = []
    for example in library().examples:
        if "unsupported" in example.app:
            continue
        shape = template(canonical(example.app))
        schema = template_schema(shape)
        document = json.loads(shape.text())
        assert holds(schema, document), example.request
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        cases.append((schema, [text, text.replace('"view":[{"kind":"', '"view":[{"kind":"x', 1)]))
    verdicts = grammar_verdicts(cases)
    assert len(verdicts) == len(cases) > 100
    assert [v for v in verdicts if v[0] != "accepted"] == []
    assert [v for v in verdicts if not v[1].startswith("rejected")] == []


def test_an_adapted_template_is_filled_under_its_schema_after_json_schema_is_refused(
        server: LlamaServer) -> None:
    """The default `constrain = "json_schema"` against llama-cpp-python's server: it answers HTTP 500
    (it takes only "text" and "json_object"), so the provider asks again with json_object and the
    schema, and keeps that form. The nearest example's template (a number slot: the `[.]` pattern that
    used to end this server) comes back filled within its schema, and adapts into a checked app."""
    request = "what is the date 30 days from today"
    plan = steps(request, incremental=False, write=False)
    ask = next(plan)
    assert ask.schema is not None and ask.what == "document"
    entry = ProviderSettings(**provider(server.url, constrain="json_schema", max_tokens=600, timeout=900.0))

    async def fill() -> tuple[list[Any], str, OpenAIProvider, list[str]]:
        office = OpenAIProvider.from_settings(entry)
        try:
            sent = spy_on(office)
            chunks = [c async for c in office.complete(ask.messages(), ask.max_tokens, schema=ask.schema,
                                                       temperature=0.0, seed=7)]
            assert chunks[-1].done and chunks[-1].finish_reason == "stop"
            return sent, "".join(c.text for c in chunks), office, office.take_notes()
        finally:
            await office.close()

    sent, answer, office, notes = asyncio.run(fill())
    assert sent == [{"type": "json_schema", "json_schema": {"name": "app_document", "schema": ask.schema}},
                    {"type": "json_object", "schema": ask.schema}]
    assert office.constrain == "json_object" and office.take_notes() == []
    assert notes == [f"office: {server.url} does not take response_format json_schema (HTTP 500); "
                     "sending json_object with the schema from now on"]
    document = json.loads(answer)
    assert holds(ask.schema, document)
    try:
        plan.send(answer)
        raise AssertionError("the strategy asked for more")
    except StopIteration as done:
        outcome: Outcome = done.value
    assert outcome.how == "adapted" and outcome.app is not None
    assert outcome.example == "what is the date 100 days from today"
    health = asyncio.run(office.health())
    assert "schemas sent as json_object: json_schema refused (HTTP 500" in health.detail
    server.wait_ready()


def test_later_answers_go_straight_to_the_form_that_worked(server: LlamaServer) -> None:
    schema = {"type": "object", "properties": {"colour": {"enum": ["red", "green", "blue"]}},
              "required": ["colour"], "additionalProperties": False}
    entry = ProviderSettings(**provider(server.url, constrain="json_schema", retries=0))

    async def ask_twice() -> tuple[list[Any], list[str], list[str]]:
        office = OpenAIProvider.from_settings(entry)
        try:
            sent = spy_on(office)
            answers = []
            for _ in range(2):
                chunks = [c async for c in office.complete(
                    [{"role": "user", "content": "Name a colour of the sky."}], 30, schema=schema)]
                assert chunks[-1].done and chunks[-1].finish_reason == "stop"
                answers.append("".join(c.text for c in chunks))
            return sent, answers, office.take_notes()
        finally:
            await office.close()

    sent, answers, notes = asyncio.run(ask_twice())
    assert [form["type"] for form in sent] == ["json_schema", "json_object", "json_object"]
    assert sent[-1] == {"type": "json_object", "schema": schema} and len(notes) == 1
    for answer in map(json.loads, answers):
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
