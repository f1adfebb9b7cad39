"""The `openai` provider: any inference server that speaks the OpenAI chat-completions API, streamed —
llama.cpp's llama-server, Ollama, vLLM, OpenAI itself and Gemini's OpenAI-compatible endpoint.

One [[gateway.providers]] entry is one OpenAIProvider. Like cloud.py it only turns the wire into Chunks
and failures into ProviderErrors that name the provider and what went wrong; the gateway does the rest
(prompts, budgets, audit, fallback), the same for every provider.

Why a deadline of our own on top of the SDK's timeout: the SDK's timeout bounds each read, so a server
that trickles tokens forever would never trip it. `timeout` here bounds the whole answer. Cancellation:
the stream is an async generator; closing it (the gateway's aclosing) closes the HTTP response, so the
server sees the connection go and stops generating.

Why a fallback of response formats: `constrain = "json_schema"` sends the OpenAI form
(`{"type": "json_schema", "json_schema": {...}}`), which llama-server, vLLM, Ollama, OpenAI and Gemini
take; llama-cpp-python's own server takes only "text" and "json_object" (with a `schema` beside it)
and answers anything else with an HTTP 500 that names response_format. So a server that refuses the
form it was sent, with an error about the response format, is asked once more in the next form
(json_schema, then json_object with the schema, then none), and the provider keeps the form that
worked for its later answers. Each step down is a note (`take_notes`, the audit log) and shows in the
provider's health.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from collections.abc import AsyncGenerator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from llmos.kernel.gateway.cloud import credential_from_firmware
from llmos.kernel.gateway.errors import ProviderError
from llmos.kernel.gateway.local import Chunk
from llmos.settings import declared
from llmos.settings.sections import ProviderSettings

HEALTH_TIMEOUT = 5.0  # seconds a health check waits for /models
NO_KEY = "no-key"  # sent to servers that need none, so the SDK never reaches for $OPENAI_API_KEY
CONSTRAINTS = ("json_schema", "json_object", "none")  # strongest first: the order of the fallback
T = TypeVar("T")
log = logging.getLogger(__name__)


class ProviderConfigError(ValueError):
    """A provider that cannot be built from its (well-typed) settings, e.g. a missing boot credential."""


def resolve(entry: ProviderSettings, sys_root: Path = Path("/sys")) -> tuple[str, str]:
    """(base URL, API key) from the settings, the environment and boot credentials."""
    url = entry.base_url or credential_from_firmware(entry.base_url_credential, sys_root)
    if not url:
        raise ProviderConfigError(f"no boot credential {entry.base_url_credential!r} holds its base_url")
    check = declared(ProviderSettings, "base_url").check
    if check is not None and (wrong := check(url)):
        raise ProviderConfigError(f"credential {entry.base_url_credential!r}: {wrong}")
    key = (entry.key or (os.environ.get(entry.key_env, "") if entry.key_env else "")
           or (credential_from_firmware(entry.key_credential, sys_root) if entry.key_credential else ""))
    return url.rstrip("/"), key


@dataclass(frozen=True)
class Health:
    """What a quick look at a server shows (None: could not tell)."""

    reachable: bool | None
    model_present: bool | None
    detail: str = ""


def _tls_problem(error: BaseException) -> str | None:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return f"TLS error: {getattr(seen, 'reason', None) or seen}"
        seen = seen.__cause__ or seen.__context__
    return None


def _listed(model: str, served: list[str]) -> bool:
    """Ollama lists `name:latest` for `name`; Gemini lists `models/name`."""
    return any(model in (ident, ident.removeprefix("models/"), ident.removesuffix(":latest"))
               for ident in served)


class OpenAIProvider:
    def __init__(self, settings: ProviderSettings, base_url: str, key: str) -> None:
        import openai

        self.settings = settings
        self.name = settings.name
        self.tier = settings.tier
        self.model_name = settings.model
        self.max_tokens = settings.max_tokens
        self.base_url = base_url
        self._openai = openai
        self._key = key or NO_KEY
        self._clients: tuple[asyncio.AbstractEventLoop, Any] | None = None
        self._model_checked = False
        self.constrain = settings.constrain  # the response format in use: lowered once a server refuses it
        self.constrain_note = ""  # why it was lowered, for the health view
        self._notes: list[str] = []

    @property
    def client(self) -> Any:
        """The SDK client of the running event loop: its pooled connections belong to one loop, and a
        gateway may serve several in turn (the CLI, tests), as the local model does."""
        loop = asyncio.get_running_loop()
        if self._clients is None or self._clients[0] is not loop:
            self._clients = (loop, self._openai.AsyncOpenAI(
                api_key=self._key, base_url=self.base_url, timeout=self.settings.timeout,
                max_retries=self.settings.retries))
        return self._clients[1]

    @property
    def _health_timeout(self) -> float:
        return min(HEALTH_TIMEOUT, self.settings.timeout)

    @classmethod
    def from_settings(cls, entry: ProviderSettings, sys_root: Path = Path("/sys")) -> OpenAIProvider:
        return cls(entry, *resolve(entry, sys_root))

    def cost(self, prompt_tokens: int, output_tokens: int) -> float:
        return (prompt_tokens * self.settings.price_in_per_mtok
                + output_tokens * self.settings.price_out_per_mtok) / 1e6

    def _failure(self, error: Exception, produced: int = 0, waited: float | None = None) -> ProviderError:
        """A located ProviderError for anything the SDK or the stream raised."""
        errors, at = self._openai, self.base_url
        if isinstance(error, errors.APITimeoutError):
            message = f"{at} did not answer within {waited or self.settings.timeout:g} s"
        elif isinstance(error, errors.APIConnectionError):
            tls = _tls_problem(error)
            cause = error.__cause__ or error
            if tls:
                message = f"{at}: {tls}"
            elif produced:
                message = f"{at} broke the connection after {produced} tokens ({cause})"
            else:
                message = f"cannot reach {at} ({cause})"
        elif isinstance(error, errors.AuthenticationError | errors.PermissionDeniedError):
            message = f"{at} refused the API key (HTTP {error.status_code})"
        elif isinstance(error, errors.NotFoundError):
            message = (f"HTTP 404 from {at}: no model {self.model_name!r} there, or the base URL is wrong "
                       f"({_said(error)})")
        elif isinstance(error, errors.APIStatusError):
            message = f"HTTP {error.status_code} from {at}: {_said(error)}"
        elif isinstance(error, errors.OpenAIError):
            message = f"{at}: {error}"
        else:  # a data line that is not JSON, or JSON that is not a chunk
            message = f"malformed stream from {at} after {produced} tokens ({type(error).__name__}: {error})"
        return ProviderError(self.name, message[:400])

    async def _within(self, deadline: float, step: Awaitable[T]) -> T:
        """One await under the answer's deadline, in this task (never across a yield)."""
        try:
            async with asyncio.timeout_at(deadline):
                return await step
        except TimeoutError:
            raise ProviderError(self.name, f"{self.base_url} did not finish within "
                                f"{self.settings.timeout:g} s (timeout); stopped") from None

    async def served_models(self) -> list[str] | None:
        """The server's /models ids, or None when it has no such endpoint (HTTP 404/405)."""
        try:
            page = await self.client.models.list(timeout=self._health_timeout)
        except (self._openai.NotFoundError, self._openai.UnprocessableEntityError):
            return None
        except self._openai.APIStatusError as error:
            if error.status_code == 405:
                return None
            raise
        return [model.id for model in page.data]

    async def check_model(self, deadline: float) -> None:
        """Once per provider: a wrong model name is a clear error, not whatever the server substitutes
        (llama-server and llama-cpp-python answer any name with the model they have)."""
        if self._model_checked:
            return
        try:
            served = await self._within(deadline, self.served_models())
        except self._openai.OpenAIError as error:
            raise self._failure(error) from error
        if served is not None and not _listed(self.model_name, served):
            raise ProviderError(self.name, f"{self.base_url} does not serve model {self.model_name!r} "
                                f"(it serves: {', '.join(served[:8]) or 'nothing'})")
        self._model_checked = True

    def request_options(self, schema: dict[str, Any] | None = None, temperature: float | None = None,
                        seed: int | None = None) -> dict[str, Any]:
        """The chat-completions options besides model, messages and max_tokens: usage in the stream,
        sampling, and the schema in the form [constrain] names."""
        options: dict[str, Any] = {"stream_options": {"include_usage": True}}
        if temperature is not None:
            options["temperature"] = temperature
        if seed is not None:
            options["seed"] = seed
        if schema is not None and self.constrain == "json_schema":
            options["response_format"] = {"type": "json_schema",
                                          "json_schema": {"name": "app_document", "schema": schema}}
        elif schema is not None and self.constrain == "json_object":
            options["response_format"] = {"type": "json_object", "schema": schema}
        return options

    def take_notes(self) -> list[str]:
        """Notes about this provider since the last call (a response format the server refused), for
        the audit log of the answer they came with."""
        notes, self._notes = self._notes, []
        return notes

    def _lower_constraint(self, error: Any) -> bool:
        """After a refused response format: step down to the next form and say so. False when there
        is none left or the error is not about the response format."""
        if not _refuses_format(error) or self.constrain == CONSTRAINTS[-1]:
            return False
        refused = self.constrain
        self.constrain = CONSTRAINTS[CONSTRAINTS.index(refused) + 1]
        instead = ("json_object with the schema" if self.constrain == "json_object"
                   else "no response format (answers are checked, not constrained)")
        self.constrain_note = f"{refused} refused (HTTP {error.status_code}: {_said(error)[:100]})"
        note = (f"{self.name}: {self.base_url} does not take response_format {refused} "
                f"(HTTP {error.status_code}); sending {instead} from now on")
        self._notes.append(note)
        log.warning("%s", note)
        return True

    async def _open(self, deadline: float, messages: list[dict[str, str]], max_tokens: int,
                    schema: dict[str, Any] | None, temperature: float | None, seed: int | None) -> Any:
        """The answer's stream, in the strongest response format the server takes (module docstring)."""
        while True:
            options = self.request_options(schema, temperature, seed)
            try:
                return await self._within(deadline, self.client.chat.completions.create(
                    model=self.model_name, messages=cast(Any, messages), max_tokens=max_tokens, stream=True,
                    **options))
            except self._openai.APIStatusError as error:
                if "response_format" not in options or not self._lower_constraint(error):
                    raise

    async def complete(self, messages: list[dict[str, str]], max_tokens: int, *,
                       schema: dict[str, Any] | None = None, temperature: float | None = None,
                       seed: int | None = None) -> AsyncGenerator[Chunk, None]:
        """Stream an answer. With `schema`, the answer is constrained to it as [constrain] says."""
        deadline = asyncio.get_running_loop().time() + self.settings.timeout
        await self.check_model(deadline)
        produced, finish, usage = 0, None, None
        stream: Any = None
        try:
            stream = await self._open(deadline, messages, max_tokens, schema, temperature, seed)
            chunks = stream.__aiter__()
            while True:
                try:
                    part = await self._within(deadline, chunks.__anext__())
                except StopAsyncIteration:
                    break
                usage = part.usage or usage
                for choice in part.choices or ():
                    finish = choice.finish_reason or finish
                    if text := choice.delta.content if choice.delta else None:
                        produced += 1
                        yield Chunk(text, produced)
        except ProviderError:
            raise
        except (self._openai.OpenAIError, ValueError, TypeError, AttributeError) as error:
            raise self._failure(error, produced) from error
        finally:
            if stream is not None:
                await stream.close()  # a cancelled or abandoned answer closes the connection now
        if finish is None:
            raise ProviderError(self.name, f"the stream from {self.base_url} ended after {produced} tokens "
                                "without finishing the answer")
        prompt_tokens = usage.prompt_tokens if usage else sum(len(m["content"]) for m in messages) // 4
        yield Chunk("", usage.completion_tokens if usage else produced, done=True,
                    prompt_tokens=prompt_tokens, finish_reason=finish)

    async def health(self) -> Health:
        """Reachable, and the configured model among those served: one GET /models."""
        started = time.monotonic()
        try:
            served = await self.served_models()
        except self._openai.OpenAIError as error:
            problem = str(self._failure(error, waited=self._health_timeout)).removeprefix(f"{self.name}: ")
            reached = isinstance(error, self._openai.APIStatusError)
            return Health(reached, None, problem)
        took = f"{(time.monotonic() - started) * 1000:.0f} ms"
        if served is None:
            return Health(True, None, f"answered in {took}; it lists no models")
        present = _listed(self.model_name, served)
        listing = "" if present else f"; it serves: {', '.join(served[:8]) or 'nothing'}"
        lowered = f"; schemas sent as {self.constrain}: {self.constrain_note}" if self.constrain_note else ""
        return Health(True, present, f"answered in {took}{listing}{lowered}")

    async def close(self) -> None:
        if self._clients is not None and self._clients[0] is asyncio.get_running_loop():
            await self._clients[1].close()
        self._clients = None


_FORMAT_WORDS = ("response_format", "response format", "json_schema", "json_object")


def _refuses_format(error: Any) -> bool:
    """Whether an HTTP error is a server refusing the response format it was sent: a 400, 422, 500 or
    501 whose body names it. llama-cpp-python's server answers json_schema with a 500 saying
    `('body', 'response_format', 'type') ... Input should be 'text' or 'json_object'`."""
    if getattr(error, "status_code", None) not in (400, 422, 500, 501):
        return False
    body = getattr(error, "body", None)
    text = f"{body if body is not None else ''} {getattr(error, 'message', '')}".lower()
    return any(word in text for word in _FORMAT_WORDS)


def _said(error: Any) -> str:
    """The server's own words from an error body, shortened."""
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        text = inner.get("message") if isinstance(inner, dict) else inner
        if text:
            return " ".join(str(text).split())[:160]
    return " ".join(str(getattr(error, "message", error)).split())[:160]
