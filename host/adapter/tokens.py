"""The GGUF's own tokenizer, run by llama.cpp (vocab only: no weights are loaded).

Training must see exactly the tokens the gateway feeds llama.cpp at run time, so the prompt is
tokenized on its own (with BOS, ending in the space after "App:") and the answer after it, as
llama.cpp continues a prompt; a second tokenizer could merge "App: {" differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmos.kernel.gateway import cpu_kernels


def bare_prompt(request: str) -> str:
    """The prompt the adapter answers: no header, no few-shot block."""
    return f"Request: {request}\nApp: "


@dataclass(frozen=True)
class Encoded:
    """One training sequence: the prompt tokens, then the answer tokens the loss is taken on."""

    prompt: tuple[int, ...]
    answer: tuple[int, ...]

    @property
    def tokens(self) -> tuple[int, ...]:
        return self.prompt + self.answer


class Tokenizer:
    def __init__(self, model_path: Path) -> None:
        cpu_kernels.ensure()
        import llama_cpp

        self._llama: Any = llama_cpp.Llama(model_path=str(model_path), vocab_only=True, verbose=False)

    def encode(self, text: str, *, bos: bool) -> tuple[int, ...]:
        return tuple(self._llama.tokenize(text.encode("utf-8"), add_bos=bos, special=False))

    def pair(self, prompt: str, answer: str) -> Encoded:
        return Encoded(self.encode(prompt, bos=True), self.encode(answer, bos=False))
