"""The local provider: llama.cpp through llama-cpp-python.

Why a thread and not a worker process: generation is C code called through ctypes, which releases
the GIL for each llama_decode, so one executor thread keeps the event loop responsive while the model
runs. A worker process would need its own copy of the model (~250 MB more RAM, ~1 s reload after each
crash) and a pipe protocol, for no gain on 2 cores. One lock serialises generations because a Llama
object is not thread-safe. Cancellation: the token loop checks a threading.Event between tokens and
also passes it as a stopping criterion, so asyncio cancellation stops llama within one token.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from llmos.kernel.codegen.spec import SCHEMA
from llmos.kernel.gateway import model as model_files
from llmos.kernel.gateway.errors import GatewayError, ProviderError
from llmos.settings import GatewaySettings


@dataclass
class Chunk:
    """One streamed piece of model output, or the final accounting (done=True)."""

    text: str
    tokens: int
    done: bool = False
    prompt_tokens: int = 0
    finish_reason: str | None = None


@dataclass
class LoadProgress:
    message: str
    fraction: float


class LocalModel:
    """Lazily loaded llama.cpp model. `load()` is idempotent and reports progress."""

    name = "local"

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self._llama: Any = None
        self._grammar: Any = None
        self._file: model_files.ModelFile | None = None
        self._locks: tuple[asyncio.AbstractEventLoop, asyncio.Lock, asyncio.Lock] | None = None
        self.load_seconds = 0.0

    def _lock(self, which: int) -> asyncio.Lock:
        """Locks belong to one event loop; a model loaded once may serve several loops (tests, CLI)."""
        loop = asyncio.get_running_loop()
        if self._locks is None or self._locks[0] is not loop:
            self._locks = (loop, asyncio.Lock(), asyncio.Lock())
        return self._locks[which]

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    @property
    def model_name(self) -> str:
        return self._file.path.name if self._file else (
            (self.settings.local_model or model_files.EMBEDDED_NAME).rsplit("/", 1)[-1])

    @property
    def capable(self) -> bool:
        return self.settings.local_model_capable

    async def load(self, report: Callable[[LoadProgress], None] | None = None) -> None:
        async with self._lock(1):
            if self._llama is not None:
                return
            loop = asyncio.get_running_loop()

            def progress(message: str, fraction: float) -> None:
                if report:  # checking the file is the first 80 % of a cold load
                    scaled = fraction * 0.8 if message.startswith(("checking", "assembling")) else fraction
                    loop.call_soon_threadsafe(report, LoadProgress(message, scaled))

            started = time.monotonic()
            # Hashing/assembling 250 MB and mmap-loading block for ~1 s: keep them off the event loop.
            self._file = await asyncio.to_thread(model_files.locate, self.settings, progress)
            progress(f"loading {self._file.path.name}", 0.9)
            self._llama, self._grammar = await asyncio.to_thread(self._construct, self._file)
            self.load_seconds = time.monotonic() - started
            progress(f"loaded {self._file.path.name}", 1.0)

    def _construct(self, file: model_files.ModelFile) -> tuple[Any, Any]:
        try:
            from llama_cpp import Llama, LlamaGrammar
        except ImportError as error:
            raise GatewayError(f"llama-cpp-python is not installed: {error}") from error
        try:
            llama = Llama(model_path=str(file.path), n_ctx=self.settings.local_context,
                          n_threads=self.settings.local_threads, verbose=False)
        except Exception as error:  # llama.cpp reports load failures as ValueError/RuntimeError
            raise ProviderError("local", f"llama.cpp could not load {file.path}: {error}") from error
        grammar = LlamaGrammar.from_json_schema(json.dumps(SCHEMA), verbose=False)
        return llama, grammar

    def count_tokens(self, text: str) -> int:
        if self._llama is None:
            return len(text) // 4
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=True))

    async def complete(self, prompt: str, max_tokens: int, *, constrained: bool,
                       temperature: float = 0.2, seed: int = 7,
                       messages: list[dict[str, str]] | None = None) -> AsyncIterator[Chunk]:
        """Stream a completion. With constrained=True the output is forced to match the spec schema.
        With `messages`, a capable (instruction-tuned) model answers through its chat template."""
        if self._llama is None:
            await self.load()
        async with self._lock(2):
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[Chunk | BaseException] = asyncio.Queue()
            stop = threading.Event()
            llama, grammar = self._llama, self._grammar if constrained else None

            def put(item: Chunk | BaseException) -> None:
                loop.call_soon_threadsafe(queue.put_nowait, item)

            def work() -> None:
                produced, finish = 0, None
                try:
                    from llama_cpp import StoppingCriteriaList

                    stopper = StoppingCriteriaList([lambda _ids, _logits: stop.is_set()])
                    if messages:
                        text_in = "\n".join(m["content"] for m in messages)
                        stream = llama.create_chat_completion(
                            messages=messages, max_tokens=max_tokens, temperature=temperature, seed=seed,
                            stream=True)
                    else:
                        text_in = prompt
                        stream = llama.create_completion(
                            prompt, max_tokens=max_tokens, temperature=temperature, seed=seed,
                            grammar=grammar, stream=True, stopping_criteria=stopper,
                            stop=None if constrained else ["\nRequest:"])
                    prompt_tokens = len(llama.tokenize(text_in.encode("utf-8"), add_bos=True))
                    for part in stream:
                        if stop.is_set():
                            finish = "cancelled"
                            break
                        choice = part["choices"][0]
                        finish = choice.get("finish_reason") or finish
                        text = choice["delta"].get("content", "") if messages else choice["text"]
                        if text or not finish:  # the closing chunk carries no token
                            produced += 1
                            put(Chunk(text or "", produced))
                    put(Chunk("", produced, done=True, prompt_tokens=prompt_tokens, finish_reason=finish))
                except BaseException as error:
                    put(error)

            worker = loop.run_in_executor(None, work)
            try:
                while True:
                    item = await queue.get()
                    if isinstance(item, BaseException):
                        raise ProviderError("local", f"llama.cpp failed: {item}") from item
                    yield item
                    if item.done:
                        break
            finally:
                stop.set()
                # Wait for the thread to leave llama before the lock is released (at most one token).
                await asyncio.shield(worker)
