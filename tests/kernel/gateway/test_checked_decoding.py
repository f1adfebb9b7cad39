"""Checked decoding (kernel/gateway/checked_decoding.py) gives what llama.cpp's full grammar sampling gives,
on the real embedded model: greedy takes the likeliest allowed token either way, only cheaper."""

from __future__ import annotations

import re

import pytest

from llmos.kernel.gateway import checked_decoding
from llmos.kernel.gateway.local import LocalModel

pytestmark = pytest.mark.slow

FRUIT = 'root ::= [1-9] [0-9]? " " ("apples" | "pears" | "plums") "."'
ODD = 'root ::= "zq" [xyz] [xyz] [xyz]'  # nothing the model would say: its first look finds no allowed token


def full_grammar(model: LocalModel, prompt: str, gbnf: str, max_tokens: int) -> str:
    llama = model._llama
    llama.reset()
    out = llama.create_completion(prompt, max_tokens=max_tokens, temperature=0.0,
                                  grammar=model.grammar(gbnf))
    return str(out["choices"][0]["text"])


def checked(model: LocalModel, prompt: str, gbnf: str, max_tokens: int) -> checked_decoding.Decoded:
    llama = model._llama
    llama.reset()
    return checked_decoding.decode(llama, llama.tokenize(prompt.encode(), add_bos=True), gbnf, max_tokens)


@pytest.mark.parametrize("prompt", ["At the market I bought", "My grandmother grows fruit. Today she picked"])
def test_the_same_text_as_full_grammar_sampling(local_model: LocalModel, prompt: str) -> None:
    decoded = checked(local_model, prompt, FRUIT, 12)
    assert decoded.text == full_grammar(local_model, prompt, FRUIT, 12)
    assert re.fullmatch(r"[1-9][0-9]? (apples|pears|plums)\.", decoded.text), decoded.text
    assert decoded.finish_reason == "stop" and decoded.evaluated > 3


def test_when_the_model_wants_nothing_allowed_the_whole_vocabulary_is_asked(local_model: LocalModel) -> None:
    decoded = checked(local_model, "The weather today is", ODD, 8)
    assert re.fullmatch(r"zq[xyz]{3}", decoded.text), decoded.text
    assert decoded.full_passes >= 1
    assert decoded.text == full_grammar(local_model, "The weather today is", ODD, 8)


def test_a_bad_grammar_is_an_error_not_a_crash(local_model: LocalModel) -> None:
    with pytest.raises(ValueError, match="rejected the grammar"):
        checked(local_model, "Hello", "root ::= (", 4)
