"""The LoRA adapter the repository ships (kernel/gateway/adapters, docs/adapter.md): its manifest names
the embedded base model and the file's own digest, llama.cpp loads it over the real GGUF, and a
generation with it under the app language's grammar is a document. CI never trains; this is what it
checks instead."""

from __future__ import annotations

import hashlib
import json

import pytest

from llmos.kernel.applang.schema import schema
from llmos.kernel.gateway import model as model_files
from llmos.kernel.gateway.adapter import SHIPPED_PATH
from llmos.settings import GatewaySettings

ADAPTER = SHIPPED_PATH
MANIFEST = ADAPTER.with_suffix(".json")


def test_the_manifest_matches_the_embedded_model_and_the_file() -> None:
    manifest = json.loads(MANIFEST.read_text())
    assert manifest["format"] == "llmos-lora/1" and manifest["prompt"] == "bare"
    assert manifest["base_sha256"] == model_files.EMBEDDED_SHA256
    assert manifest["adapter_sha256"] == hashlib.sha256(ADAPTER.read_bytes()).hexdigest()
    assert ADAPTER.read_bytes()[:4] == b"GGUF" and ADAPTER.stat().st_size < 16 << 20
    losses = manifest["loss"]
    assert len(losses) == manifest["hyperparameters"]["steps"] and sum(losses[-20:]) < sum(losses[:20])


@pytest.mark.slow
def test_llama_cpp_loads_it_and_a_generation_with_it_is_grammar_valid() -> None:
    from llama_cpp import Llama
    from llama_cpp.llama_grammar import LlamaGrammar

    base = model_files.locate(GatewaySettings()).path
    llama = Llama(model_path=str(base), lora_path=str(ADAPTER), n_ctx=1024, n_threads=2, verbose=False)
    grammar = LlamaGrammar.from_json_schema(json.dumps(schema()), verbose=False)
    # A short answer: grammar sampling over Gemma's 262k-word vocabulary costs seconds a token here.
    out = llama.create_completion("Request: a counter with a plus and a minus button\nApp: ", max_tokens=12,
                                  temperature=0.0, grammar=grammar)
    text = out["choices"][0]["text"]
    assert text.startswith('{"title":"'), text  # the grammar's document, opened as the adapter learnt
