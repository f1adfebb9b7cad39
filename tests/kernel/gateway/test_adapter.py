"""The adapter check (kernel/gateway/adapter.py) and the gateway with an adapter: a fitting one is loaded and
writes first from the bare request; a wrong or corrupt one is refused with its path and the reason, and
the embedded model goes on with few-shot prompts."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from llmos.kernel.gateway import Gateway, GatewaySettings
from llmos.kernel.gateway import adapter as adapters
from llmos.kernel.gateway import model as model_files
from llmos.kernel.gateway.ledger import Ledger
from llmos.kernel.gateway.local import LocalModel

BASE = model_files.EMBEDDED_SHA256


def copy_shipped(folder: Path) -> Path:
    target = folder / "mine.gguf"
    shutil.copyfile(adapters.SHIPPED_PATH, target)
    shutil.copyfile(adapters.SHIPPED_PATH.with_suffix(".json"), target.with_suffix(".json"))
    return target


def edit_manifest(path: Path, **changes: object) -> None:
    manifest = json.loads(path.with_suffix(".json").read_text())
    manifest.update(changes)
    path.with_suffix(".json").write_text(json.dumps(manifest))


def refusal(path: Path, base: str = BASE) -> str:
    with pytest.raises(adapters.AdapterRefused) as caught:
        adapters.check(path, base, "gemma-3-270m-q4_k_m.gguf")
    message = str(caught.value)
    assert str(path) in message and "few-shot" in message
    return caught.value.reason


def test_the_setting_names_none_the_shipped_one_or_a_path() -> None:
    assert adapters.configured("") is None and adapters.configured("  ") is None
    assert adapters.configured("shipped") == adapters.SHIPPED_PATH
    assert adapters.configured("/data/a.gguf") == Path("/data/a.gguf")


def test_the_shipped_adapter_fits_the_embedded_model() -> None:
    checked = adapters.check(adapters.SHIPPED_PATH, BASE)
    assert checked.path == adapters.SHIPPED_PATH and checked.steps > 0 and len(checked.sha256) == 64


def test_an_adapter_for_another_base_model_is_refused_naming_both(tmp_path: Path) -> None:
    path = copy_shipped(tmp_path)
    reason = refusal(path, base="ab" * 32)
    assert "trained on gemma-3-270m-q4_k_m.gguf" in reason and "abababababab" in reason


def test_a_corrupt_adapter_file_is_refused(tmp_path: Path) -> None:
    path = copy_shipped(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert "corrupt" in refusal(path)
    path.write_bytes(b"PK\x03\x04" + bytes(data[4:]))
    assert "not a GGUF file" in refusal(path)
    path.write_bytes(b"")
    assert "not a GGUF file" in refusal(path)


@pytest.mark.parametrize(("changes", "expected"), [
    ({"format": "peft/1"}, "manifest format 'peft/1'"),
    ({"prompt": "few-shot"}, "expects the prompt 'few-shot'"),
    ({"adapter_sha256": "00" * 32}, "the manifest says 000000000000"),
])
def test_a_manifest_that_does_not_fit_is_refused(tmp_path: Path, changes: dict[str, object], expected: str
                                                 ) -> None:
    path = copy_shipped(tmp_path)
    edit_manifest(path, **changes)
    assert expected in refusal(path)


def test_a_missing_or_broken_manifest_is_refused_with_its_location(tmp_path: Path) -> None:
    path = copy_shipped(tmp_path)
    path.with_suffix(".json").write_text('{"format": "llmos-lora/1",\n  "prompt": bare}')
    assert "is not JSON (line 2, column 13" in refusal(path)
    path.with_suffix(".json").write_text("[1, 2]")
    assert "not a JSON object" in refusal(path)
    path.with_suffix(".json").unlink()
    assert "no manifest beside it (mine.json)" in refusal(path)
    assert refusal(tmp_path / "absent.gguf") == "no manifest beside it (absent.json)"


@pytest.mark.slow
def test_a_refused_adapter_leaves_the_model_making_apps_with_few_shot(tmp_path: Path) -> None:
    path = copy_shipped(tmp_path)
    edit_manifest(path, base_sha256="cd" * 32)
    gateway = Gateway(GatewaySettings.load({"adapter": str(path), "local_context": 1024}), Ledger())

    async def made() -> object:
        last = None
        async for event in gateway.generate("a counter with a plus and a minus button"):
            last = event
        await gateway.close()
        return last

    generation = asyncio.run(made())
    assert gateway.local.adapter is None
    assert str(path) in gateway.local.adapter_problem and "cdcdcdcdcdcd" in gateway.local.adapter_problem
    notes = " ".join(getattr(generation, "notes", []))
    assert "adapted from the example" in notes and "written by the adapter" not in notes


@pytest.mark.slow
def test_with_the_shipped_adapter_the_model_writes_a_grammar_valid_document_from_the_bare_request() -> None:
    model = LocalModel(GatewaySettings(adapter="shipped", local_context=1024))
    asyncio.run(model.load())
    assert model.adapter is not None and model.adapter.path == adapters.SHIPPED_PATH
    assert not model.adapter_problem
    from llmos.kernel.applang.schema import schema

    async def answer() -> tuple[str, str | None, int]:
        pieces, finish, prompt_tokens = [], None, 0
        async for chunk in model.complete("Request: a counter with a plus and a minus button\nApp: ", 420,
                                          schema=schema(), adapter=True):
            pieces.append(chunk.text)
            if chunk.done:
                finish, prompt_tokens = chunk.finish_reason, chunk.prompt_tokens
        return "".join(pieces), finish, prompt_tokens

    text, finish, prompt_tokens = asyncio.run(answer())
    document = json.loads(text)  # the grammar closed it: a JSON document of the app language's shape
    assert finish == "stop" and isinstance(document["title"], str) and isinstance(document["view"], list)
    assert prompt_tokens < 30  # the bare prompt: no few-shot block
