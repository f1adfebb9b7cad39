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
import functools
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from llmos.kernel.gateway import adapter as adapters
from llmos.kernel.gateway import checked_decoding, cpu_kernels
from llmos.kernel.gateway import model as model_files
from llmos.kernel.gateway.errors import GatewayError, ProviderError
from llmos.settings import GatewaySettings

GRAMMAR_CACHE = 32
log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def _gbnf(schema_json: str) -> str:
    cpu_kernels.ensure()
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return str(json_schema_to_gbnf(schema_json))


def _shared_prefix(llama: Any, tokens: Sequence[int]) -> int:
    """How many of `tokens` llama.cpp still holds evaluated from the previous call (its prefix cache)."""
    cached = list(llama.eval_tokens) if llama.n_tokens else []
    count = 0
    for held, wanted in zip(cached, tokens, strict=False):
        if held != wanted:
            break
        count += 1
    return min(count, max(0, len(tokens) - 1))


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
        self._grammars: OrderedDict[str, Any] = OrderedDict()  # grammar text -> LlamaGrammar, newest last
        self._file: model_files.ModelFile | None = None
        self._locks: tuple[asyncio.AbstractEventLoop, asyncio.Lock, asyncio.Lock] | None = None
        self.load_seconds = 0.0
        self.adapter: adapters.Adapter | None = None  # loaded and checked; used only by adapter asks
        self.adapter_problem = ""  # why the configured adapter was refused, in plain words
        self._adapter_handle: Any = None
        self._adapter_on = False

    def _lock(self, which: int) -> asyncio.Lock:
        """Locks belong to one event loop; a model loaded once may serve several loops (tests, CLI)."""
        loop = asyncio.get_running_loop()
        if self._locks is None or self._locks[0] is not loop:
            self._locks = (loop, asyncio.Lock(), asyncio.Lock())
        return self._locks[1] if which == 1 else self._locks[2]

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
            checked = await asyncio.to_thread(self._check_adapter, self._file)
            progress(f"loading {self._file.path.name}", 0.9)
            self._llama = await asyncio.to_thread(self._construct, self._file)
            if checked is not None:
                await asyncio.to_thread(self._load_adapter, checked)
            self.load_seconds = time.monotonic() - started
            progress(f"loaded {self._file.path.name}", 1.0)

    def _construct(self, file: model_files.ModelFile) -> Any:
        try:
            kernels = cpu_kernels.ensure()
            log.info("llama.cpp CPU kernels: %s", kernels.build)
            from llama_cpp import Llama
        except cpu_kernels.UnsupportedProcessor as error:
            raise ProviderError("local", str(error)) from error
        except ImportError as error:
            raise GatewayError(f"llama-cpp-python is not installed: {error}") from error
        try:
            return Llama(model_path=str(file.path), n_ctx=self.settings.local_context,
                         n_threads=self.settings.local_threads, verbose=False)
        except Exception as error:  # llama.cpp reports load failures as ValueError/RuntimeError
            raise ProviderError("local", f"llama.cpp could not load {file.path}: {error}") from error

    def _check_adapter(self, file: model_files.ModelFile) -> adapters.Adapter | None:
        """The configured adapter if it fits this model file, else None with the reason kept and logged."""
        path = adapters.configured(self.settings.adapter)
        if path is None:
            return None
        try:
            base = file.sha256 or model_files.sha256_of(file.path)
            return adapters.check(path, base, file.path.name)
        except adapters.AdapterRefused as refused:
            self.adapter_problem = str(refused)
            log.warning("%s", refused)
            return None

    def _load_adapter(self, checked: adapters.Adapter) -> None:
        """Load the checked adapter over the model, not yet applied; llama.cpp frees it with the model."""
        import llama_cpp

        handle = llama_cpp.llama_adapter_lora_init(self._llama.model, str(checked.path).encode("utf-8"))
        if not handle:
            self.adapter_problem = str(adapters.AdapterRefused(
                checked.path, "llama.cpp could not load it (see its log for the tensor it rejected)"))
            log.warning("%s", self.adapter_problem)
            return
        self._adapter_handle, self.adapter = handle, checked

    def _switch_adapter(self, on: bool) -> None:
        """Apply or remove the adapter (in the worker thread, under the generation lock). llama.cpp's
        cached prompt was computed with the other weights, so it is dropped."""
        if on == self._adapter_on:
            return
        import ctypes

        import llama_cpp

        llama = self._llama
        if on:
            handles = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(self._adapter_handle)
            scales = (ctypes.c_float * 1)(1.0)
            failed = llama_cpp.llama_set_adapters_lora(llama.ctx, handles, 1, scales)
        else:
            failed = llama_cpp.llama_set_adapters_lora(llama.ctx, None, 0, None)
        if failed:
            raise ProviderError("local", f"llama.cpp could not {'apply' if on else 'remove'} the adapter")
        self._adapter_on = on
        llama.reset()

    def grammar(self, grammar: str | None = None, schema: dict[str, Any] | None = None) -> Any:
        """The LlamaGrammar for a GBNF text or a JSON schema (None for neither), cached: the spec path
        asks for the same few grammars (one per slot kind, one per narrowed schema) again and again."""
        if grammar is None and schema is None:
            return None
        key = grammar if grammar is not None else json.dumps(schema, sort_keys=True)
        if key in self._grammars:
            self._grammars.move_to_end(key)
            return self._grammars[key]
        from llama_cpp.llama_grammar import LlamaGrammar

        try:
            made = (LlamaGrammar.from_string(grammar, verbose=False) if grammar is not None
                    else LlamaGrammar.from_json_schema(key, verbose=False))
        except Exception as error:  # llama.cpp rejects a grammar it cannot parse with a bare ValueError
            raise ProviderError("local", f"llama.cpp cannot use the answer's grammar: {error}") from error
        self._grammars[key] = made
        if len(self._grammars) > GRAMMAR_CACHE:
            self._grammars.popitem(last=False)
        return made

    def count_tokens(self, text: str) -> int:
        if self._llama is None:
            return len(text) // 4
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=True))

    async def likelihood(self, prompt: str, continuation: str) -> AsyncIterator[Chunk]:
        """How likely `continuation` is after `prompt`: its average log-probability per token, as the
        text of one chunk (the spec path re-ranks examples with it). Token by token on llama.cpp's
        last logits, so it needs no per-token logits buffer (n_ctx x 262k floats for Gemma 3)."""
        if self._llama is None:
            await self.load()
        async with self._lock(2):
            llama, stop_event = self._llama, threading.Event()

            def work() -> tuple[float, int]:
                import llama_cpp
                import numpy as np

                self._switch_adapter(False)
                context = llama.tokenize(prompt.encode("utf-8"), add_bos=True)
                tokens = llama.tokenize(continuation.encode("utf-8"), add_bos=False)
                llama.reset()
                llama.eval(context)
                total = 0.0
                for token in tokens:
                    if stop_event.is_set():
                        break
                    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits(llama.ctx),
                                                   shape=(llama.n_vocab(),)).astype(np.float64)
                    top = logits.max()
                    total += logits[token] - top - np.log(np.exp(logits - top).sum())
                    llama.eval([token])
                return total / max(1, len(tokens)), len(context) + len(tokens)

            worker = asyncio.get_running_loop().run_in_executor(None, work)
            try:
                average, evaluated = await asyncio.shield(worker)
            except asyncio.CancelledError:
                stop_event.set()  # the thread leaves llama within one token, before the lock is freed
                await asyncio.wait([worker])
                raise
            except Exception as error:  # llama.cpp reports failures as ValueError/RuntimeError
                raise ProviderError("local", f"llama.cpp failed: {error}") from error
            yield Chunk(f"{average:.4f}", 1)
            yield Chunk("", 1, done=True, prompt_tokens=evaluated, finish_reason="stop")

    async def complete(self, prompt: str, max_tokens: int, *, grammar: str | None = None,
                       schema: dict[str, Any] | None = None, stop: tuple[str, ...] = (),
                       temperature: float = 0.0, seed: int = 7,
                       messages: list[dict[str, str]] | None = None,
                       adapter: bool = False) -> AsyncIterator[Chunk]:
        """Stream a completion of `prompt`, constrained by a GBNF `grammar` or a JSON `schema` when given
        and cut before the first of `stop`. With `messages`, a capable (instruction-tuned) model answers
        through its chat template instead. `prompt_tokens` of the last chunk counts the prompt tokens
        llama.cpp evaluated: a prompt that extends the previous one (the spec path's slot filling)
        reuses the cached prefix, so it costs only its new tokens. With `adapter`, the loaded adapter
        answers (checked_decoding: the grammar is asked about the model's own likeliest tokens first)."""
        if adapter and self.adapter is None:
            raise ProviderError("local", "no adapter is loaded")
        if self._llama is None:
            await self.load()
        async with self._lock(2):
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[Chunk | BaseException] = asyncio.Queue()
            stop_event = threading.Event()
            llama = self._llama
            constraint = None if adapter else self.grammar(grammar, schema)
            gbnf = None if not adapter else grammar if grammar is not None else (
                _gbnf(json.dumps(schema, sort_keys=True)) if schema is not None else None)

            def put(item: Chunk | BaseException) -> None:
                loop.call_soon_threadsafe(queue.put_nowait, item)

            def work() -> None:
                produced, finish = 0, None
                try:
                    from llama_cpp import StoppingCriteriaList

                    self._switch_adapter(adapter)
                    if adapter and gbnf is not None:
                        tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=True)
                        counted = [0]

                        def each(text: str) -> None:
                            counted[0] += 1
                            put(Chunk(text, counted[0]))

                        decoded = checked_decoding.decode(
                            llama, tokens, gbnf, max_tokens, reused=_shared_prefix(llama, tokens),
                            temperature=temperature, seed=seed, stop_event=stop_event, on_text=each)
                        put(Chunk("", decoded.tokens, done=True, prompt_tokens=decoded.evaluated,
                                  finish_reason=decoded.finish_reason))
                        return
                    stopper = StoppingCriteriaList([lambda _ids, _logits: stop_event.is_set()])
                    if messages:
                        text_in = "\n".join(m["content"] for m in messages)
                        evaluated = len(llama.tokenize(text_in.encode("utf-8"), add_bos=True))
                        stream = llama.create_chat_completion(
                            messages=messages, max_tokens=max_tokens, temperature=temperature, seed=seed,
                            stream=True)
                    else:
                        tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=True)
                        evaluated = len(tokens) - _shared_prefix(llama, tokens)
                        stream = llama.create_completion(
                            prompt, max_tokens=max_tokens, temperature=temperature, seed=seed,
                            grammar=constraint, stream=True, stopping_criteria=stopper,
                            stop=list(stop) or None)
                    for part in stream:
                        if stop_event.is_set():
                            finish = "cancelled"
                            break
                        choice = part["choices"][0]
                        finish = choice.get("finish_reason") or finish
                        text = choice["delta"].get("content", "") if messages else choice["text"]
                        if text or not finish:  # the closing chunk carries no token
                            produced += 1
                            put(Chunk(text or "", produced))
                    put(Chunk("", produced, done=True, prompt_tokens=evaluated, finish_reason=finish))
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
                stop_event.set()
                # Wait for the thread to leave llama before the lock is released (at most one token).
                await asyncio.shield(worker)
