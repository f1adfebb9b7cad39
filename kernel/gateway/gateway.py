"""The gateway: the one chokepoint between a user's prompt and a model.

    async for event in gateway.generate("a pomodoro timer", app_id="pomodoro"):
        if isinstance(event, Progress): show(event)        # phase, tokens, fraction, text_so_far
        else: generation = event                           # the last event: a Generation

Order of work per request: sanitise -> rate limit -> budget -> route -> provider (with fallback to the
other one on failure) -> code + manifest -> leak check -> manifest policy -> charge + audit.
Refusals (bad prompt, budget, rate, policy) are raised as Refusal subclasses with a plain message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from llmos.kernel import codegen
from llmos.kernel.analysis.usage import used_capabilities
from llmos.kernel.caps.manifest import Manifest
from llmos.kernel.caps.policy import Policy, PolicyError
from llmos.kernel.codegen.direct import AnswerError, split_answer
from llmos.kernel.codegen.spec import AppSpec
from llmos.kernel.gateway import prompts
from llmos.kernel.gateway.cloud import CloudModel, api_key
from llmos.kernel.gateway.errors import GatewayError, PolicyViolation, ProviderError, Refusal
from llmos.kernel.gateway.jsonrepair import parse_truncated
from llmos.kernel.gateway.ledger import ANY_APP, AuditRow, Budget, Ledger, sha256
from llmos.kernel.gateway.local import Chunk, LoadProgress, LocalModel
from llmos.kernel.gateway.ratelimit import RateLimiter
from llmos.kernel.gateway.router import Route, route
from llmos.kernel.gateway.sanitize import one_line, sanitise
from llmos.kernel.gateway.settings import GatewaySettings


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
    provider: str  # "local" or "cloud"
    spec: AppSpec | None  # the filled spec on the local spec path, None when a model wrote code
    usage: TokenUsage
    title: str = ""
    notes: list[str] = field(default_factory=list)  # e.g. capabilities dropped by the policy
    route: Route | None = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "manifest": self.manifest.to_json(), "model": self.model,
                "provider": self.provider, "spec": self.spec.to_json() if self.spec else None,
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
        self.policy = Policy(list(self.settings.allowed_capabilities))
        self.local = LocalModel(self.settings)
        key = api_key(self.settings)
        self.cloud: CloudModel | None = CloudModel(self.settings, key) if key else None

    async def close(self) -> None:
        if self.cloud:
            await self.cloud.close()
        self.ledger.close()

    def budget(self) -> Budget:
        s = self.settings
        return Budget(s.daily_token_budget, s.per_app_token_budget, s.daily_cost_budget_usd,
                      s.per_app_cost_budget_usd)

    async def generate_app(self, prompt: str | bytes, app_id: str | None = None, **kw: Any) -> Generation:
        """generate() without the progress events."""
        result: Generation | None = None
        async for event in self.generate(prompt, app_id, **kw):
            if isinstance(event, Generation):
                result = event
        assert result is not None
        return result

    async def generate(self, prompt: str | bytes, app_id: str | None = None, *, requester: str = "shell",
                       repair: Repair | None = None, prefer: str | None = None
                       ) -> AsyncIterator[Progress | Generation]:
        app = app_id or ANY_APP
        digest = sha256(prompt if isinstance(prompt, str) else prompt.decode("utf-8", "replace"))
        yield Progress("checking", detail="checking the request")
        try:
            text = sanitise(prompt, self.settings.max_prompt_chars)
            self.limiter.acquire(requester)
            self.ledger.check(app, self.budget())
        except Refusal as refusal:
            self.ledger.audit(AuditRow(requester, app, digest, f"refused:{refusal.reason}",
                                       detail=str(refusal)))
            raise
        chosen = route(text, self.settings.complexity_threshold, self.cloud is not None)
        order = [chosen.provider] + (["local"] if chosen.provider == "cloud" else
                                     ["cloud"] if self.cloud else [])
        if prefer in order:
            order = [prefer] + [p for p in order if p != prefer]
        failures: list[str] = []
        for provider in order:
            started = time.monotonic()
            usage = TokenUsage()
            model = self.local.model_name if provider == "local" else self.cloud.model_name  # type: ignore[union-attr]
            output = ""
            try:
                runner = self._run_local if provider == "local" else self._run_cloud
                # aclosing: a caller that stops iterating stops the model now, not at garbage collection
                async with aclosing(runner(text, usage, repair)) as events:
                    async for event in events:
                        if isinstance(event, Generation):
                            output = event.code
                            event.route = chosen
                            event.notes[:0] = [f"fallback after: {f}" for f in failures]
                            self.ledger.charge(app, usage.total, usage.cost_usd)
                            self._audit(requester, app, digest, provider, model, usage, started, "ok",
                                        output, event.notes)
                        yield event
                return
            except ProviderError as error:
                failures.append(str(error))
                self.ledger.charge(app, usage.total, usage.cost_usd)
                self._audit(requester, app, digest, provider, model, usage, started, "error", output,
                            [str(error)])
                if provider != order[-1]:
                    yield Progress("fallback", detail=f"{error}; trying another model")
            except Refusal as refusal:
                self.ledger.charge(app, usage.total, usage.cost_usd)
                self._audit(requester, app, digest, provider, model, usage, started,
                            f"refused:{refusal.reason}", output, [str(refusal)])
                raise
            except (asyncio.CancelledError, GeneratorExit):
                self.ledger.charge(app, usage.total, usage.cost_usd)
                self._audit(requester, app, digest, provider, model, usage, started, "cancelled", output, [])
                raise
        raise GatewayError("no model could answer: " + "; ".join(failures))

    def _audit(self, requester: str, app: str, digest: str, provider: str, model: str, usage: TokenUsage,
               started: float, outcome: str, output: str, notes: list[str]) -> None:
        self.ledger.audit(AuditRow(
            requester, app, digest, outcome, provider, model, usage.prompt_tokens, usage.output_tokens,
            usage.cost_usd, sha256(output) if output else None, int((time.monotonic() - started) * 1000),
            "; ".join(notes)))

    async def _stream(self, chunks: AsyncIterator[Chunk], usage: TokenUsage, max_tokens: int,
                      sink: list[str]) -> AsyncIterator[Progress]:
        async with aclosing(chunks):
            async for chunk in chunks:
                if chunk.done:
                    usage.prompt_tokens, usage.output_tokens = chunk.prompt_tokens, chunk.tokens
                    break
                sink.append(chunk.text)
                usage.output_tokens = chunk.tokens
                fraction = min(0.95, 0.1 + 0.85 * chunk.tokens / max_tokens)
                yield Progress("generating", chunk.tokens, fraction, "".join(sink))

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

    async def _run_local(self, text: str, usage: TokenUsage, repair: Repair | None
                         ) -> AsyncIterator[Progress | Generation]:
        async for event in self._load_local():
            yield event
        max_tokens = self.settings.local_max_tokens
        pieces: list[str] = []
        if self.local.capable:
            chunks = self.local.complete(
                "", max_tokens, constrained=False,
                messages=[{"role": "system", "content": prompts.SYSTEM_PROMPT},
                          {"role": "user", "content": prompts.user_turn(
                              text, repair.code if repair else None, repair.problems if repair else None)}])
            async for event in self._stream(chunks, usage, max_tokens, pieces):
                yield event
            yield self._from_answer("".join(pieces), "local", self.local.model_name, usage)
            return
        # A repair of a spec-generated app can only re-sample: vary the seed, warm the temperature.
        seed, temperature = (7 + repair.attempt, 0.6) if repair else (7, 0.2)
        chunks = self.local.complete(prompts.spec_prompt(one_line(text)), max_tokens, constrained=True,
                                     temperature=temperature, seed=seed)
        async for event in self._stream(chunks, usage, max_tokens, pieces):
            yield event
        yield Progress("building", usage.output_tokens, 0.97, "".join(pieces), "writing the app code")
        try:
            spec = codegen.normalise(parse_truncated("".join(pieces)))
        except ValueError as error:
            raise ProviderError("local", f"the model's spec is unusable: {error}") from error
        code, manifest = codegen.build(spec)
        self._check_leaks(code, "local")
        settled, notes = self._settle(manifest, code)
        yield Generation(code, settled, self.local.model_name, "local", spec, usage, spec.title, notes)

    async def _run_cloud(self, text: str, usage: TokenUsage, repair: Repair | None
                         ) -> AsyncIterator[Progress | Generation]:
        assert self.cloud is not None
        max_tokens = self.settings.cloud_max_tokens
        message = prompts.user_turn(text, repair.code if repair else None,
                                    repair.problems if repair else None)
        pieces: list[str] = []
        async for event in self._stream(self.cloud.complete(message, max_tokens), usage, max_tokens, pieces):
            yield event
        usage.cost_usd = self.cloud.cost(usage.prompt_tokens, usage.output_tokens)
        yield Progress("building", usage.output_tokens, 0.97, "".join(pieces), "checking the code")
        yield self._from_answer("".join(pieces), "cloud", self.cloud.model_name, usage)

    def _from_answer(self, answer: str, provider: str, model: str, usage: TokenUsage) -> Generation:
        """A model-written answer -> Generation, or ProviderError when it is not usable code."""
        try:
            parsed = split_answer(answer)
        except AnswerError as error:
            raise ProviderError(provider, str(error)) from error
        problems = codegen.syntax_problems(parsed.code)
        if problems:
            raise ProviderError(provider, "the code does not parse: " + "; ".join(map(str, problems[:5])))
        self._check_leaks(parsed.code, provider)
        settled, notes = self._settle(Manifest.from_model(parsed.header), parsed.code)
        title = parsed.header.get("title") if isinstance(parsed.header.get("title"), str) else ""
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
