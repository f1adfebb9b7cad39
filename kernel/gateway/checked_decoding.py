"""Grammar-constrained decoding that checks the model's own choice first.

llama-cpp-python's sampler chain applies a grammar to every candidate of every token: for Gemma 3's
262,144-word vocabulary and the app document's grammar that is seconds a token, so a whole document
(about 160 tokens) would take minutes. A model trained on the grammar's own output (the LoRA adapter,
docs/adapter.md) almost always picks a token the grammar accepts, so this decoder asks the grammar only
about the few likeliest tokens, best first, and about the whole vocabulary only when none of them is
allowed. It is what llama.cpp's own common sampler does (grammar applied after sampling, resampled
with the grammar on a rejection), written against llama.cpp's C API because the Python binding does
not offer it. The output is the same as full grammar sampling: greedy takes the likeliest allowed
token either way.
"""

from __future__ import annotations

import codecs
import ctypes
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FIRST_LOOK = 48  # likeliest tokens offered to the grammar before the whole vocabulary is
TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])  # llama_token_data


@dataclass(frozen=True)
class Decoded:
    text: str
    tokens: int
    evaluated: int  # prompt tokens llama.cpp evaluated (the rest came from its cache)
    finish_reason: str  # stop (the grammar or the model ended it), length or cancelled
    full_passes: int  # tokens for which the whole vocabulary had to be offered to the grammar


class _Grammar:
    """One llama.cpp grammar sampler, used only to filter candidates and to follow accepted tokens."""

    def __init__(self, vocab: Any, gbnf: str) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._sampler = llama_cpp.llama_sampler_init_grammar(vocab, gbnf.encode("utf-8"), b"root")
        if not self._sampler:
            raise ValueError("llama.cpp rejected the grammar")

    def allowed(self, ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """Which of `ids` the grammar accepts next (a boolean mask)."""
        lib = self._lib
        data = np.zeros(len(ids), dtype=TOKEN_DATA)
        data["id"], data["logit"] = ids, logits
        array = lib.llama_token_data_array(data=data.ctypes.data_as(lib.llama_token_data_p), size=len(ids),
                                           selected=-1, sorted=False)
        lib.llama_sampler_apply(self._sampler, ctypes.byref(array))
        kept: np.ndarray = np.isfinite(data["logit"])
        return kept

    def accept(self, token: int) -> None:
        self._lib.llama_sampler_accept(self._sampler, token)

    def close(self) -> None:
        self._lib.llama_sampler_free(self._sampler)


def _choose(logits: np.ndarray, grammar: _Grammar, temperature: float,
            rng: np.random.Generator) -> tuple[int, bool]:
    """The next token among those the grammar allows, and whether the whole vocabulary was offered."""
    look = min(FIRST_LOOK, len(logits))
    best = np.argpartition(-logits, look - 1)[:look]
    best = best[np.argsort(-logits[best])]
    mask = grammar.allowed(best, logits[best])
    full = not mask.any()
    if full:
        best = np.arange(len(logits), dtype=np.int64)
        mask = grammar.allowed(best, logits)
        if not mask.any():
            raise ValueError("the grammar allows no token here")
    ids, scores = best[mask], logits[best[mask]].astype(np.float64)
    if temperature <= 0:
        return int(ids[int(np.argmax(scores))]), full
    weights = np.exp((scores - scores.max()) / temperature)
    return int(rng.choice(ids, p=weights / weights.sum())), full


def decode(llama: Any, prompt_tokens: Sequence[int], gbnf: str, max_tokens: int, *, reused: int = 0,
           temperature: float = 0.0, seed: int = 7, stop_event: threading.Event | None = None,
           on_text: Callable[[str], None] | None = None) -> Decoded:
    """Continue `prompt_tokens` under the grammar `gbnf` (root rule "root"), at most `max_tokens`.
    `reused` prompt tokens are already in llama.cpp's cache (the caller checked). Blocking: run it in
    the provider's worker thread, which holds the model's lock."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    grammar = _Grammar(vocab, gbnf)
    rng = np.random.default_rng(seed)
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pieces: list[str] = []
    produced, full_passes, finish = 0, 0, "length"
    try:
        llama.n_tokens = reused
        llama.eval(list(prompt_tokens[reused:]))
        n_vocab = llama.n_vocab()
        while produced < max_tokens:
            if stop_event is not None and stop_event.is_set():
                finish = "cancelled"
                break
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits(llama.ctx), shape=(n_vocab,))
            token, full = _choose(logits, grammar, temperature, rng)
            full_passes += full
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            grammar.accept(token)
            produced += 1
            text = utf8.decode(llama.detokenize([token]))
            if text:
                pieces.append(text)
                if on_text:
                    on_text(text)
            llama.eval([token])
    finally:
        grammar.close()
    tail = utf8.decode(b"", final=True)
    if tail:
        pieces.append(tail)
    return Decoded("".join(pieces), produced, len(prompt_tokens) - reused, finish, full_passes)
