"""The gateway: the one chokepoint between a user's prompt and a model.

    async for event in gateway.generate("a pomodoro timer", app_id="pomodoro"):
        if isinstance(event, Progress): show(event)        # phase, tokens, fraction, text_so_far
        else: generation = event                           # the last event: a Generation

Order of work per request: sanitise -> rate limit -> budget -> route -> provider (with fallback down the
route on failure) -> code + manifest -> leak check -> manifest policy -> charge + audit. The providers:
the embedded model (local.py), inference servers (openai_provider.py), Claude (cloud.py).
Refusals (bad prompt, budget, rate, policy) are raised as Refusal subclasses with a plain message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from llmos.kernel.analysis.tsparse import syntax_problems
from llmos.kernel.analysis.usage import used_capabilities
from llmos.kernel.applang.generation import Completion
from llmos.kernel.caps.manifest import Manifest
from llmos.kernel.caps.policy import Policy, PolicyError
from llmos.kernel.codegen.direct import AnswerError, split_answer
from llmos.kernel.gateway import prompts
from llmos.kernel.gateway.cloud import CloudModel, api_key
from llmos.kernel.gateway.errors import GatewayError, PolicyViolation, ProviderError, Refusal
from llmos.kernel.gateway.ledger import ANY_APP, AuditRow, Budget, Ledger, sha256
from llmos.kernel.gateway.local import Chunk, LoadProgress, LocalModel
from llmos.kernel.gateway.openai_provider import OpenAIProvider, ProviderConfigError
from llmos.kernel.gateway.ratelimit import RateLimiter
from llmos.kernel.gateway.router import Candidate, Route, route
from llmos.kernel.gateway.sanitize import sanitise
from llmos.kernel.gateway.settings import GatewaySettings
from llmos.kernel.gateway.spec_path import AppNotMade, CannotMake, SpecJob, composes, spec_job


@dataclass
class Progress:
    phase: str  # checking | loading-model | generating | building | fallback
    tokens: int = 0
    fraction: float = 0.0  # 0..1 of this request, for a progress bar
    text_so_far: str = ""
    detail: str = ""


@dataclass
class TokenUsage:
    prompt_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.output_tokens


@dataclass
class Generation:
    code: str
    manifest: Manifest
    model: str
    provider: str  # "local", "cloud" or a [[gateway.providers]] name
    spec: dict[str, Any] | None  # the filled app document on the spec path, None when a model wrote code
    usage: TokenUsage
    title: str = ""
    notes: list[str] = field(default_factory=list)  # e.g. capabilities dropped by the policy
    route: Route | None = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "manifest": self.manifest.to_json(), "model": self.model,
                "provider": self.provider, "spec": self.spec,
                "usage": {"prompt_tokens": self.usage.prompt_tokens,
                          "output_tokens": self.usage.output_tokens, "cost_usd": self.usage.cost_usd},
                "title": self.title, "notes": list(self.notes)}


@dataclass
class Repair:
    """A second try after static analysis failed: the previous code and its located problems."""

    code: str
    problems: list[str]
    attempt: int = 1


class Gateway:
    def __init__(self, settings: GatewaySettings | None = None, ledger: Ledger | None = None) -> None:
        self.settings = settings or GatewaySettings.load()
        self.ledger = ledger or Ledger()
        self.limiter = RateLimiter(self.settings.requests_per_minute)
        self.policy = Policy(self.settings.allowed_capabilities)
        self.local = LocalModel(self.settings)
        key = api_key(self.settings)
        self.cloud: CloudModel | None = CloudModel(self.settings, key) if key else None
        self.problems: list[str] = []  # providers left out at start-up, and why (shown with their health)
        # The installed apps' functions a request may use, as lines for the code-writing prompt
        # (kernel/registry/providers.py); the kernel sets it, None lists nothing.
        self.installed: Callable[[str], list[str]] | None = None
        self.servers: dict[str, OpenAIProvider] = {}
        for entry in self.settings.providers:
            try:
                self.servers[entry.name] = OpenAIProvider.from_settings(entry)
            except ProviderConfigError as error:
                self.problems.append(f"gateway.providers ({entry.name}): {error}; this provider is disabled")
        default = self.settings.default_provider
        if default and default not in {c.name for c in self.candidates()}:
            self.problems.append(f"gateway.default_provider: no provider called {default!r} is available; "
                                 "the embedded model goes first")

    async def close(self) -> None:
        if self.cloud:
            await self.cloud.close()
        for server in self.servers.values():
            await server.close()
        self.ledger.close()

    def budget(self) -> Budget:
        s = self.settings
        return Budget(s.daily_token_budget, s.per_app_token_budget, s.daily_cost_budget_usd,
                      s.per_app_cost_budget_usd)

    def candidates(self) -> list[Candidate]:
        """Every provider that can take a request, in the order a simple prompt tries them: the user's
        default, then the embedded model, the servers in file order, the cloud model."""
        found = [Candidate("local", "code" if self.local.capable else "spec", embedded=True)]
        found += [Candidate(name, server.tier) for name, server in self.servers.items()]
        if self.cloud is not None:
            found.append(Candidate("cloud", "code"))
        first = [c for c in found if c.name == self.settings.default_provider]
        return first + [c for c in found if c not in first]

    def model_name(self, provider: str) -> str:
        if provider == "cloud" and self.cloud is not None:
            return self.cloud.model_name
        return self.servers[provider].model_name if provider in self.servers else self.local.model_name

    def _cost(self, provider: str, usage: TokenUsage) -> float:
        priced = self.cloud if provider == "cloud" else self.servers.get(provider)
        return priced.cost(usage.prompt_tokens, usage.output_tokens) if priced else 0.0

    async def generate_app(self, prompt: str | bytes, app_id: str | None = None, **kw: Any) -> Generation:
        """generate() without the progress events."""
        result: Generation | None = None
        async for event in self.generate(prompt, app_id, **kw):
            if isinstance(event, Generation):
                result = event
        assert result is not None
        return result

    async def generate(self, prompt: str | bytes, app_id: str | None = None, *, requester: str = "shell",
                       repair: Repair | None = None, prefer: str | None = None, only: str | None = None
                       ) -> AsyncIterator[Progress | Generation]:
        """`prefer` moves a provider to the front of the route; `only` uses that one provider alone."""
        candidates = self.candidates()
        if only is not None and only not in {c.name for c in candidates}:
            raise GatewayError(f"no provider called {only!r} (there are: "
                               f"{', '.join(c.name for c in candidates)})")
        app = app_id or ANY_APP
        digest = sha256(prompt if isinstance(prompt, str) else prompt.decode("utf-8", "replace"))
        yield Progress("checking", detail="checking the request")
        text = self._admit(requester, app, digest, lambda: sanitise(prompt, self.settings.max_prompt_chars))
        chosen = route(text, self.settings.complexity_threshold, candidates)
        order = [only] if only else list(chosen.order)
        if prefer in order:
            order = [prefer] + [p for p in order if p != prefer]
        failures: list[str] = []
        cannot: CannotMake | None = None  # the spec path's plain-words reason, if a provider gave one
        for index, provider in enumerate(order):
            started = time.monotonic()
            usage = TokenUsage()
            model = self.model_name(provider)
            output = ""
            delivered = False  # the Generation is out, charged and audited: closing now changes nothing
            try:
                # aclosing: a caller that stops iterating stops the model now, not at garbage collection
                async with aclosing(self._run(provider, text, usage, repair)) as events:
                    async for event in events:
                        if isinstance(event, Generation):
                            output = event.code
                            event.route = chosen
                            event.notes[:0] = [f"fallback after: {f}" for f in failures]
                            self._charge(app, provider, usage)
                            self._audit(requester, app, digest, provider, model, usage, started, "ok",
                                        output, event.notes)
                            delivered = True
                        yield event
                return
            except ProviderError as error:
                failures.append(str(error))
                cannot = cannot or (error if isinstance(error, CannotMake) else None)
                self._charge(app, provider, usage)
                self._audit(requester, app, digest, provider, model, usage, started, "error", output,
                            [str(error)])
                if index + 1 < len(order):
                    yield Progress("fallback", detail=f"{error}; trying {order[index + 1]} instead")
            except Refusal as refusal:
                self._charge(app, provider, usage)
                self._audit(requester, app, digest, provider, model, usage, started,
                            f"refused:{refusal.reason}", output, [str(refusal)])
                raise
            except (asyncio.CancelledError, GeneratorExit):
                if delivered:
                    raise
                self._charge(app, provider, usage)
                self._audit(requester, app, digest, provider, model, usage, started, "cancelled", output, [])
                raise
        if cannot is not None and len(failures) == 1:
            raise AppNotMade(cannot.reason + self._cannot_hint())
        raise GatewayError("no model could answer: " + "; ".join(failures))

    async def answer(self, prompt: str, schema: dict[str, Any], max_tokens: int, *,
                     requester: str = "flow", app_id: str | None = None) -> tuple[str, str]:
        """A short answer under a JSON schema from the embedded model, for a question the kernel asks
        (a regeneration's migration mapping, kernel/versions/renames.py): (text, model). The embedded
        model answers because it is always there and nothing leaves the machine; the answer is
        charged and audited like an app's."""
        app, digest = app_id or ANY_APP, sha256(prompt)
        self._admit(requester, app, digest, lambda: prompt)
        started, usage, pieces = time.monotonic(), TokenUsage(), list[str]()
        outcome = "error"
        try:
            async for _event in self._load_local():
                pass
            chunks = self.local.complete(prompt, max_tokens, schema=schema)
            async for _progress in self._stream(chunks, usage, max_tokens, pieces):
                pass
            outcome = "ok"
        except ProviderError:
            raise
        except GatewayError as error:
            raise ProviderError("local", str(error)) from error
        finally:
            self._charge(app, "local", usage)
            self._audit(requester, app, digest, "local", self.local.model_name, usage, started, outcome,
                        "".join(pieces), ["a kernel question (schema-constrained answer)"])
        return "".join(pieces), self.local.model_name

    def _admit(self, requester: str, app: str, digest: str, check: Callable[[], str]) -> str:
        """The request's text once `check` (sanitising), the rate limit and the budget let it through;
        a refusal is audited and raised."""
        try:
            text = check()
            self.limiter.acquire(requester)
            self.ledger.check(app, self.budget())
        except Refusal as refusal:
            self.ledger.audit(AuditRow(requester, app, digest, f"refused:{refusal.reason}",
                                       detail=str(refusal)))
            raise
        return text

    def _cannot_hint(self) -> str:
        """What the user can do when the embedded model alone could not make the app."""
        if self.cloud is None and not self.servers:
            return " A cloud model could make it: add an Anthropic API key in Settings."
        return ""

    def _charge(self, app: str, provider: str, usage: TokenUsage) -> None:
        usage.cost_usd = self._cost(provider, usage)
        self.ledger.charge(app, usage.total, usage.cost_usd)

    def _audit(self, requester: str, app: str, digest: str, provider: str, model: str, usage: TokenUsage,
               started: float, outcome: str, output: str, notes: list[str]) -> None:
        self.ledger.audit(AuditRow(
            requester, app, digest, outcome, provider, model, usage.prompt_tokens, usage.output_tokens,
            usage.cost_usd, sha256(output) if output else None, int((time.monotonic() - started) * 1000),
            "; ".join(notes)))

    async def _stream(self, chunks: AsyncIterator[Chunk], usage: TokenUsage, max_tokens: int,
                      sink: list[str]) -> AsyncIterator[Progress]:
        try:
            async for chunk in chunks:
                if chunk.done:
                    usage.prompt_tokens, usage.output_tokens = chunk.prompt_tokens, chunk.tokens
                    break
                sink.append(chunk.text)
                usage.output_tokens = chunk.tokens
                fraction = min(0.95, 0.1 + 0.85 * chunk.tokens / max_tokens)
                yield Progress("generating", chunk.tokens, fraction, "".join(sink))
        finally:
            # A provider's stream is an async generator: closing it closes the model's stream or the
            # server's connection at once, whether the answer ended, failed or was cancelled.
            if isinstance(chunks, AsyncGenerator):
                await chunks.aclose()


    async def _load_local(self) -> AsyncIterator[Progress]:
        if self.local.loaded:
            return
        events: asyncio.Queue[LoadProgress | None] = asyncio.Queue()
        task = asyncio.create_task(self.local.load(events.put_nowait))
        task.add_done_callback(lambda _t: events.put_nowait(None))
        while (event := await events.get()) is not None:
            yield Progress("loading-model", 0, 0.1 * event.fraction, "", event.message)
        try:
            await task
        except GatewayError:
            raise
        except Exception as error:
            raise ProviderError("local", f"cannot load the model: {error}") from error

    def _run(self, provider: str, text: str, usage: TokenUsage, repair: Repair | None
             ) -> AsyncGenerator[Progress | Generation, None]:
        if provider == "local":
            return self._run_local(text, usage, repair)
        if provider == "cloud":
            return self._run_cloud(text, usage, repair)
        return self._run_server(self.servers[provider], text, usage, repair)

    def _user_turn(self, text: str, repair: Repair | None) -> str:
        installed = self.installed(text) if self.installed is not None else []
        return prompts.user_turn(text, repair.code if repair else None, repair.problems if repair else None,
                                 installed)

    def _code_messages(self, text: str, repair: Repair | None) -> list[dict[str, str]]:
        """Channel separation: kernel instructions in the system turn, the request only in the user turn."""
        return [{"role": "system", "content": prompts.SYSTEM_PROMPT},
                {"role": "user", "content": self._user_turn(text, repair)}]

    async def _run_local(self, text: str, usage: TokenUsage, repair: Repair | None
                         ) -> AsyncGenerator[Progress | Generation, None]:
        if not self.local.capable:  # refused before the model is loaded for nothing
            calling = composes(text, self.installed(text) if self.installed is not None else [])
            if calling is not None:
                raise CannotMake("local", calling, unsupported=True)
        async for event in self._load_local():
            yield event
        max_tokens = self.settings.local_max_tokens
        if self.local.capable:
            chunks = self.local.complete("", max_tokens, messages=self._code_messages(text, repair))
            answer = self._code_answer("local", self.local.model_name, chunks, usage, max_tokens)
        else:
            job = spec_job(text, incremental=True, attempt=repair.attempt if repair else 0,
                           bare=self.local.adapter is not None)

            def ask_local(ask: Completion) -> AsyncIterator[Chunk]:
                if ask.continuation is not None:
                    return self.local.likelihood(ask.prompt, ask.continuation)
                return self.local.complete(ask.prompt, min(ask.max_tokens, max_tokens), grammar=ask.grammar,
                                           schema=ask.schema, stop=ask.stop, temperature=job.temperature,
                                           seed=job.seed, adapter=ask.adapter)

            answer = self._spec_answer("local", self.local.model_name, job, usage, ask_local)
        async for step in answer:
            yield step

    async def _run_cloud(self, text: str, usage: TokenUsage, repair: Repair | None
                         ) -> AsyncGenerator[Progress | Generation, None]:
        assert self.cloud is not None
        max_tokens = self.settings.cloud_max_tokens
        chunks = self.cloud.complete(self._user_turn(text, repair), max_tokens)
        async for event in self._code_answer("cloud", self.cloud.model_name, chunks, usage, max_tokens):
            yield event

    async def _run_server(self, server: OpenAIProvider, text: str, usage: TokenUsage, repair: Repair | None
                          ) -> AsyncGenerator[Progress | Generation, None]:
        if server.tier == "code":
            chunks = server.complete(self._code_messages(text, repair), server.max_tokens)
            answer = self._code_answer(server.name, server.model_name, chunks, usage, server.max_tokens)
        else:
            job = spec_job(text, incremental=False, attempt=repair.attempt if repair else 0)

            def ask_server(ask: Completion) -> AsyncIterator[Chunk]:
                return server.complete(ask.messages(), min(ask.max_tokens, server.max_tokens),
                                       schema=ask.schema, temperature=job.temperature, seed=job.seed)

            answer = self._spec_answer(server.name, server.model_name, job, usage, ask_server)
        async for event in answer:
            if isinstance(event, Generation):
                event.notes.extend(server.take_notes())  # e.g. "schemas sent as json_object": audited
            yield event

    async def _code_answer(self, provider: str, model: str, chunks: AsyncIterator[Chunk], usage: TokenUsage,
                           max_tokens: int) -> AsyncIterator[Progress | Generation]:
        """A model that writes SDK code: stream it, then check it like any other model's code."""
        pieces: list[str] = []
        async for event in self._stream(chunks, usage, max_tokens, pieces):
            yield event
        yield Progress("building", usage.output_tokens, 0.97, "".join(pieces), "checking the code")
        yield self._from_answer("".join(pieces), provider, model, usage)

    async def _spec_answer(self, provider: str, model: str, job: SpecJob, usage: TokenUsage,
                           ask_model: Callable[[Completion], AsyncIterator[Chunk]]
                           ) -> AsyncIterator[Progress | Generation]:
        """A model that fills the app language: each completion the job asks for is streamed through
        the provider, then the checked app is built from the document (spec_path)."""
        ask = job.first()
        while ask is not None:
            part, pieces = TokenUsage(), list[str]()
            async for event in self._stream(ask_model(ask), part, ask.max_tokens, pieces):
                yield Progress("generating", usage.output_tokens + event.tokens,
                               min(0.95, 0.1 + 0.85 * job.progress),
                               "" if ask.continuation is not None else ask.answer_so_far + event.text_so_far,
                               ask.what)
            usage.prompt_tokens += part.prompt_tokens
            usage.output_tokens += part.output_tokens
            ask = job.answer("".join(pieces))
        made = job.result(provider)
        yield Progress("building", usage.output_tokens, 0.97, "", "writing the app code")
        self._check_leaks(made.code, provider)
        settled, notes = self._settle(made.manifest, made.code)
        yield Generation(made.code, settled, model, provider, made.document, usage, made.title,
                         made.notes + notes)

    def _from_answer(self, answer: str, provider: str, model: str, usage: TokenUsage) -> Generation:
        """A model-written answer -> Generation, or ProviderError when it is not usable code."""
        try:
            parsed = split_answer(answer)
        except AnswerError as error:
            raise ProviderError(provider, str(error)) from error
        problems = syntax_problems(parsed.code)
        if problems:
            raise ProviderError(provider, "the code does not parse: " + "; ".join(map(str, problems[:5])))
        self._check_leaks(parsed.code, provider)
        settled, notes = self._settle(Manifest.from_model(parsed.header), parsed.code)
        header_title = parsed.header.get("title")
        title = header_title if isinstance(header_title, str) else ""
        return Generation(parsed.code, settled, model, provider, None, usage, " ".join(title.split())[:60],
                          notes)

    def _settle(self, claimed: Manifest, code: str) -> tuple[Manifest, list[str]]:
        """The manifest the code may be granted: what it uses, within the policy (kernel.caps.policy)."""
        try:
            return self.policy.settle(claimed, used_capabilities(code))
        except PolicyError as error:
            raise PolicyViolation(str(error)) from None

    @staticmethod
    def _check_leaks(code: str, provider: str) -> None:
        leaked = prompts.leaks(code)
        if leaked:
            raise ProviderError(provider, f"the code quotes the kernel prompt ({leaked[0][:60]}...)")
