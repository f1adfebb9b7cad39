"""`llmos app new` as an async event stream, shared by the kernel's API and the terminal.

    flow = AppFlow(registry, decisions)            # generator defaults to the gateway, lazily
    async for event in flow.new("a pomodoro timer"):
        ...  # looked-up, offered-cached, generating, analysed, repairing, needs-approval, saved,
             # approved, launched, failed (fields: events.py)

Questions for the user (take the cached app? allow these capabilities?) go through a `Decisions` object,
so a terminal, the kernel's socket and a test each answer them their own way. Nothing is saved until
the code passed analysis and policy and the user allowed every required capability."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from llmos.api import Ask, Launched, Offer
from llmos.kernel.analysis import Finding, Report, analyse
from llmos.kernel.caps.manifest import Manifest, ManifestError
from llmos.kernel.caps.policy import Policy
from llmos.kernel.registry import Match, Record, RecordError, Registry
from llmos.settings import AppsSettings, GatewaySettings, default_of

from . import events
from .callees import with_callee_names
from .events import Event, Events
from .mentions import with_warnings

if TYPE_CHECKING:
    from llmos.kernel.gateway.gateway import Repair
    from llmos.kernel.versions import Mapping, Versions

MAX_PROMPT_CHARS: int = default_of(GatewaySettings, "max_prompt_chars")
DEFAULT_REPAIR_TRIES: int = default_of(AppsSettings, "repair_tries")


class Decisions(Protocol):
    async def accept_cached(self, offer: Offer) -> bool: ...
    async def approve(self, asks: list[Ask]) -> set[str]: ...


@runtime_checkable
class Generated(Protocol):
    """The generator's last item (kernel.gateway.Generation has this shape); `manifest` is anything
    Manifest.parse reads."""

    @property
    def code(self) -> str: ...
    @property
    def manifest(self) -> object: ...
    @property
    def model(self) -> str: ...


class Generator(Protocol):
    """What the flow needs from the gateway (kernel.gateway.Gateway has this shape): an async iterator of
    progress events whose last item is `Generated`."""

    def generate(self, prompt: str, *, repair: Repair | None = None,
                 prefer: str | None = None) -> AsyncIterator[object]: ...


Launcher = Callable[[Record, list[str]], Awaitable[Launched]]


def check_prompt(prompt: object, limit: int = MAX_PROMPT_CHARS) -> str:
    """The prompt as text, or ValueError with a plain reason (empty, too long, binary)."""
    if isinstance(prompt, bytes | bytearray):
        try:
            prompt = bytes(prompt).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("the prompt is binary data, not text") from None
    if not isinstance(prompt, str):
        raise ValueError("the prompt must be text")
    controls = sum(1 for c in prompt if ord(c) < 32 and c not in "\n\t\r")
    if "\x00" in prompt or controls > 2:
        raise ValueError("the prompt contains binary data (control characters)")
    if not prompt.strip():
        raise ValueError("the prompt is empty: describe the app you want")
    if len(prompt) > limit:
        raise ValueError(f"the prompt is {len(prompt)} characters long; the limit is {limit}")
    return prompt.strip()


def _repair(code: str, report: Report, attempt: int) -> Repair:
    from llmos.kernel.gateway.gateway import Repair  # lazily, like the gateway itself

    return Repair(code=code, problems=[str(f) for f in report.findings], attempt=attempt)


def _manifest_of(generation: Generated) -> Manifest:
    manifest = generation.manifest
    return Manifest.parse(manifest.to_json() if hasattr(manifest, "to_json") else manifest)


def _offer(match: Match, record: Record) -> Offer:
    from llmos.kernel.launcher import app_title  # the launcher brings the sandbox: only for an offer

    return Offer(record.codeHash, record.prompt, match.score, record.llmModel, app_title(record))


async def default_launcher(record: Record, granted: list[str]) -> Launched:
    """Hand the app to the sandbox manager (kernel.sandbox.launch(record, granted), awaited if async)."""
    try:
        from llmos.kernel.sandbox import launch
    except ImportError as error:
        raise RuntimeError(f"the sandbox is not available here ({error})") from None
    result = launch(record, granted)
    launched: Launched = await result if inspect.isawaitable(result) else result
    return launched


class AppFlow:
    def __init__(self, registry: Registry, decisions: Decisions, *, generator: Generator | None = None,
                 policy: Policy | None = None, launcher: Launcher | None = default_launcher,
                 use_cache: bool = True, run: bool = True, repair_tries: int = DEFAULT_REPAIR_TRIES,
                 prefer: str | None = None, max_prompt_chars: int = MAX_PROMPT_CHARS,
                 versions: Versions | None = None) -> None:
        self.registry = registry
        self.versions = versions  # app identities: a regeneration becomes the next version of its app
        self.migration: Mapping | None = None
        self.decisions = decisions
        self._generator = generator
        self.policy = policy or Policy()
        self.launcher = launcher
        self.use_cache, self.run_app, self.repair_tries = use_cache, run, repair_tries
        self.prefer, self.max_prompt_chars = prefer, max_prompt_chars

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            from llmos.kernel.gateway.gateway import Gateway  # heavy (model runtimes): only when needed

            self._generator = Gateway()
        return self._generator

    async def new(self, prompt: object) -> Events:
        try:
            text = check_prompt(prompt, self.max_prompt_chars)
        except ValueError as error:
            yield events.failed(str(error))
            return
        if self.use_cache:
            took_cached = False
            async for event in self._cached(text):
                took_cached = took_cached or event.kind == "needs-approval"
                yield event
            if took_cached:
                return
        async for event in self._generate_and_launch(text, parent=None):
            yield event

    async def regenerate(self, ref: str, prefer: str | None = None, migration: object = None) -> Events:
        """The same prompt through another model; the new app records the old one as its parent and,
        with app identities, becomes the next version of the same app, its data carried over by
        `migration` (a mapping, kernel/versions/mapping.py). A malformed mapping fails here, before
        any token is spent; one that would lose data fails before anything is saved."""
        from llmos.kernel.versions import Mapping, MigrationError

        try:
            old = self.registry.get(ref)
            self.migration = Mapping.parse(migration)
        except (LookupError, RecordError, MigrationError) as error:
            yield events.failed(str(error))
            return
        self.prefer = prefer or self.prefer
        async for event in self._generate_and_launch(old.prompt, parent=old.codeHash):
            yield event

    async def launch(self, ref: str, *, allow_untrusted: bool = False) -> Events:
        """Approve and run an app that is already in the registry (`llmos app run`); an untrusted one
        only with the user's extra confirmation (allow_untrusted)."""
        try:
            record = self.registry.get(ref, allow_untrusted=allow_untrusted)
        except (LookupError, RecordError) as error:
            yield events.failed(str(error))
            return
        async for event in self._approve_and_launch(record):
            yield event

    def _mapping(self) -> Mapping:
        from llmos.kernel.versions import Mapping

        return self.migration or Mapping()

    def _callee_title(self, identity: str) -> str | None:
        """The title of the installed app an app asks to call (its current version's), or None."""
        from llmos.kernel.launcher import app_title  # the launcher brings the sandbox: only for such an ask

        assert self.versions is not None
        try:
            return app_title(self.registry.get(self.versions.current(identity), allow_untrusted=True))
        except (LookupError, RecordError):
            return None

    # -- steps ---------------------------------------------------------------------------------------
    async def _cached(self, text: str) -> Events:
        candidates = self.registry.search(text, 3)
        yield Event("looked-up", {"candidates": [events.candidate(m.codeHash, m.prompt, m.score)
                                                 for m in candidates]})
        best = self.registry.lookup(text)  # the best *trusted* match: an untrusted app is never offered
        if best is None:
            return
        try:
            record = self.registry.get(best.codeHash)
        except RecordError as error:  # a tampered record is never offered
            yield Event("looked-up", {"candidates": [], "rejected": str(error)})
            return
        offer = _offer(best, record)
        yield events.offered(offer)
        if await self.decisions.accept_cached(offer):
            async for event in self._approve_and_launch(record, prompt=text):
                yield event

    async def _generate_and_launch(self, text: str, parent: str | None) -> Events:
        repair: Repair | None = None
        for attempt in range(1, self.repair_tries + 2):
            generation: Generated | None = None
            try:
                stream = self.generator.generate(text, repair=repair, prefer=self.prefer)
                async for item in stream:
                    if isinstance(item, Generated):
                        generation = item
                    else:
                        yield Event("generating", {"attempt": attempt, "phase": getattr(item, "phase", ""),
                                                   "fraction": float(getattr(item, "fraction", 0.0)),
                                                   "tokens": int(getattr(item, "tokens", 0)),
                                                   "detail": str(getattr(item, "detail", "") or "")})
            except Exception as error:  # gateway refusals and provider failures end the flow plainly
                yield events.failed(self._failure(text, error))
                return
            if generation is None:
                yield events.failed("the generator returned no app")
                return
            try:
                manifest = _manifest_of(generation)
                report = analyse(generation.code, manifest)
            except ManifestError as error:
                manifest, report = Manifest(), Report()
                report.findings.append(Finding(1, 1, "undeclared-capability", f"bad manifest: {error}"))
            yield Event("analysed", {"attempt": attempt, **report.to_json()})
            if report.ok:
                break
            if attempt > self.repair_tries:
                first = "; ".join(str(f) for f in report.findings[:3])
                yield events.failed(f"the generated code still fails analysis after {attempt} tries: {first}",
                                    findings=report.to_json()["findings"])
                return
            repair = _repair(generation.code, report, attempt)
            yield Event("repairing", {"attempt": attempt + 1, "problems": repair.problems})
        assert generation is not None  # the loop above ends with an analysed generation or returns
        if parent is not None and self.versions is not None and not self.migration:
            async for event in self._write_migration(parent, generation.code):
                yield event
        async for event in self._approve_and_launch(None, generation=generation, manifest=manifest,
                                                     prompt=text, parent=parent):
            yield event

    async def _write_migration(self, parent: str, code: str) -> Events:
        """A regeneration that stores its data under other keys and came with no mapping: the model
        writes one (kernel/versions/renames.py: old key -> new key, chosen under a grammar). It is used
        only if it is well formed and loses nothing; otherwise what it would have moved is kept aside,
        as with no mapping, and the event says why."""
        from llmos.kernel.versions import Mapping, MigrationError, infer, renames

        answer = getattr(self.generator, "answer", None)
        if answer is None:
            return
        try:
            old, new = infer(self.registry.get(parent).generatedCode), infer(code)
        except (LookupError, RecordError, ValueError):
            return
        asked = renames.choices(old, new)
        if not asked:
            return
        try:
            text, model = await answer(renames.prompt(asked, old, new), renames.schema(asked),
                                       renames.MAX_TOKENS)
        except Exception as error:  # the app is still made: unmapped values are kept aside
            yield events.migration({}, "", f"the model could not write a mapping: {error}")
            return
        written = renames.mapping_from(text, asked)
        try:
            mapping = Mapping.parse(written)
            assert self.versions is not None
            self.versions.check_regeneration(parent, code, mapping)
        except MigrationError as error:
            yield events.migration(written, model, str(error))
            return
        self.migration = mapping
        yield events.migration(written, model)

    def _failure(self, text: str, error: Exception) -> str:
        """Why no app came, in plain words (the gateway's own when it says it has them: an app the
        offline model cannot make), and the nearest trusted app already made, to open instead."""
        reason = str(error) if getattr(error, "plain", False) else f"generation failed: {error}"
        try:
            nearest = [m for m in self.registry.search(text, 3) if m.trusted][:1] if self.use_cache else []
        except Exception:  # a broken index must not hide the reason
            nearest = []
        if nearest:
            reason += f" The nearest app you already have is “{nearest[0].prompt}”: it is in the launcher."
        return reason

    async def _approve_and_launch(self, record: Record | None, *, generation: Generated | None = None,
                                  manifest: Manifest | None = None, prompt: str = "",
                                  parent: str | None = None) -> Events:
        if manifest is None:
            assert record is not None
            manifest = Manifest.parse([{"scope": s, "optional": s in record.optionalCapabilities}
                                       for s in record.capabilities])
        problems = self.policy.check(manifest)  # every path: generated, cached, saved or a starter
        if problems:
            yield events.failed("; ".join(problems))
            return
        request = prompt or (record.prompt if record is not None else "")
        asks = with_warnings([Ask(r.scope, r.words, not r.optional) for r in self.policy.offered(manifest)],
                             request)
        if self.versions is not None:  # app identities are known: name the apps this one calls
            asks = with_callee_names(asks, self._callee_title)
        yield events.needs_approval(asks)
        granted = set(await self.decisions.approve(asks)) if asks else set()
        missing = [a for a in asks if a.required and a.scope not in granted]
        if missing:
            words = ", ".join(f"{a.scope} ({a.words})" for a in missing)
            yield events.failed(f"not launched: the app needs {words}, which you did not allow")
            return
        granted_list = [a.scope for a in asks if a.scope in granted]
        yield Event("approved", {"granted": granted_list})
        if record is None:
            assert generation is not None  # a new app comes with the generation it was made from
            versions, mapping = self.versions, self._mapping()
            try:
                if versions is not None and parent is not None:  # one that would lose data saves nothing
                    versions.check_regeneration(parent, generation.code, mapping)
                record = self.registry.add(prompt, generation.code, str(generation.model), manifest.scopes,
                                           optional=manifest.optional, parent=parent)
                version = (versions.add_version(parent, record, mapping)
                           if versions is not None and parent is not None else None)
            except (RecordError, ValueError) as error:
                yield events.failed(f"could not save the app: {error}")
                return
            yield events.saved(record.codeHash, record.llmModel,
                               **({"identity": version.identity, "version": version.seq} if version else {}))
        if not self.run_app or self.launcher is None:
            return
        try:
            app = await self.launcher(record, granted_list)
        except Exception as error:
            yield events.failed(f"could not launch {record.short}: {error}", hash=record.codeHash)
            return
        yield events.launched(record.codeHash, granted_list, app)
