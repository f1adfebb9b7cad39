"""Working apps from everyday prompts. Each prompt in bench/apps/prompts.toml goes end to end: the real
gateway with the embedded model (whatever generator is current, through its public generate API) ->
static analysis, with the shell's bounded repair -> a real app host -> the real renderer -> the
prompt's scripted interaction (llmos.sdk.render.script). Each prompt is classified:

  working  every expectation held
  honest   nothing was presented, with a reason: the gateway refused or said it cannot (refused), or
           reported an error, or the code never passed analysis (failed). For a prompt outside the
           app language a refusal is the right answer.
  wrong    an app was presented that fails its script (or does not load, crashes or hangs), an app
           was made for a request outside the language, or nothing came without a reason.

    .venv/bin/python bench/gateway_apps.py [--limit N] [--family F] [--ids a,b] [--per-family N]
                                           [--json out.json] [--adapter shipped|PATH|""] [--side-by-side]

--side-by-side runs every prompt twice in one run, few-shot retrieval alone and then with the embedded
model's LoRA adapter writing first (docs/adapter.md), and prints the two side by side.

Progress goes to stderr as it runs; app hosts and llama.cpp log to --log, so the table stays readable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import tomllib
from collections.abc import AsyncIterator, Awaitable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO, TypeVar

HERE = Path(__file__).resolve().parent
PROMPTS = HERE / "apps" / "prompts.toml"
MORE_SETS = sorted((HERE / "apps").glob("prompts_*.toml"))  # later sets, each with its story in its header
EXAMPLES = HERE.parent / "kernel" / "applang" / "examples"
FAMILIES = ("calculators", "trackers", "lists", "timers", "clocks", "randomness", "learning", "text",
            "drawing", "outside")
REPAIR_TRIES = 3          # as the shell's flow: a first try and up to three repairs
GENERATE_TIMEOUT = 600.0  # seconds for all tries of one prompt
SCRIPT_TIMEOUT = 120.0    # seconds for launching and using one app
NEAR_COPY = 0.7           # word overlap (Jaccard) above which two prompts count as copies

if __name__ == "__main__":  # a script run: point state and config away from the machine's own
    os.environ.setdefault("LLMOS_STATE_DIR", tempfile.mkdtemp(prefix="llmos-bench-"))
    os.environ.setdefault("LLMOS_CONFIG", "/nonexistent/llmos.toml")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the kernel service (init/services.py)

from llmos.kernel.analysis import Manifest, ManifestError, analyse  # noqa: E402
from llmos.kernel.gateway import GatewayError, Refusal, Repair  # noqa: E402
from llmos.kernel.sandbox.headless import SCRIPTED, HeadlessApp, HeadlessKernel, LaunchError  # noqa: E402
from llmos.sdk.render.driver import AppDriver, AppStopped, DriverError  # noqa: E402
from llmos.sdk.render.script import ScriptEntry, ScriptError, parse_script, run_script  # noqa: E402


# -- the prompt set ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    id: str
    family: str
    prompt: str
    steps: tuple[ScriptEntry, ...] = ()
    expect: tuple[ScriptEntry, ...] = ()
    outside: bool = False
    reason: str = ""


def load_cases(path: Path = PROMPTS) -> list[Case]:
    """The prompt set, checked: every problem is raised as ScriptError naming the prompt and step."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ScriptError(f"{path.name}: {error}") from None
    cases, seen = [], set()
    for index, raw in enumerate(data.get("prompt") or []):
        where = f"{path.name}: prompt[{index}]"
        case_id = raw.get("id")
        if not isinstance(case_id, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,40}", case_id):
            raise ScriptError(f"{where}: id must be lower-case words joined by '-', got {case_id!r}")
        where = f"{path.name}: {case_id}"
        if case_id in seen:
            raise ScriptError(f"{where}: the id is used twice")
        seen.add(case_id)
        unknown = set(raw) - {"id", "family", "prompt", "steps", "expect", "outside", "reason"}
        if unknown:
            raise ScriptError(f"{where}: unknown keys {sorted(unknown)}")
        if raw.get("family") not in FAMILIES:
            raise ScriptError(f"{where}: family must be one of {', '.join(FAMILIES)}")
        if not isinstance(raw.get("prompt"), str) or not raw["prompt"].strip():
            raise ScriptError(f"{where}: prompt must be a non-empty string")
        outside = raw.get("outside", False) is True
        if outside != (raw["family"] == "outside"):
            raise ScriptError(f"{where}: outside = true goes with family \"outside\" and only with it")
        if outside and not str(raw.get("reason", "")).strip():
            raise ScriptError(f"{where}: an outside prompt says why (reason)")
        if not outside and not raw.get("expect"):
            raise ScriptError(f"{where}: a prompt needs at least one expectation")
        steps, expect = parse_script(raw.get("steps", []), raw.get("expect", []), where)
        cases.append(Case(case_id, raw["family"], " ".join(raw["prompt"].split()), steps, expect, outside,
                          str(raw.get("reason", ""))))
    return cases


STOPWORDS = frozenset({"a", "an", "the", "i", "me", "my", "and", "or", "of", "to", "for", "in", "on", "with",
                       "that", "it", "is", "be", "can", "this", "what", "how"})


def normalised_words(text: str) -> frozenset[str]:
    """Lower-case words without stop words, plural -s dropped: the words that make a request."""
    words = re.findall(r"[a-z0-9]+", text.casefold().replace("'", ""))
    return frozenset(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
                     for w in words if w not in STOPWORDS)


def overlap(a: str, b: str) -> float:
    """Jaccard overlap of the normalised words of two requests."""
    left, right = normalised_words(a), normalised_words(b)
    return len(left & right) / len(left | right) if left | right else 1.0


LINE_REQUEST = re.compile(r"(?im)^\s*(?:#\s*)?(?:request|prompt)\s*[:=]\s*[\"']?(.+?)[\"']?\s*$")
QUOTED_REQUEST = re.compile(r"(?im)^\s*[\"']?(?:request|prompt)[\"']?\s*[:=]\s*[\"'](.+?)[\"']")


def example_requests(folder: Path = EXAMPLES) -> list[str]:
    """Every request in the example library, whatever its file format: the string values under
    "request" or "prompt" keys (TOML, JSON, JSON lines), or `request: ...` lines in other text."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("request", "prompt") and isinstance(item, str):
                    found.append(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []:
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            if path.suffix == ".toml":
                walk(tomllib.loads(text))
            elif path.suffix == ".json":
                walk(json.loads(text))
            elif path.suffix == ".jsonl":
                for line in filter(str.strip, text.splitlines()):
                    walk(json.loads(line))
            else:
                found += LINE_REQUEST.findall(text)
        except (ValueError, tomllib.TOMLDecodeError):
            found += QUOTED_REQUEST.findall(text)
    return found


def near_copies(cases: Iterable[Case], requests: Iterable[str], limit: float = NEAR_COPY
                ) -> list[tuple[str, str, float]]:
    """(case id, example request, overlap) for every pair over the limit."""
    requests = list(requests)
    return [(case.id, request, score) for case in cases for request in requests
            if (score := overlap(case.prompt, request)) > limit]


# -- one prompt, end to end ----------------------------------------------------------------------------
class Generator(Protocol):
    """kernel.gateway.Gateway's public shape: progress events, the last one carrying .code,
    .manifest (with to_json()) and .usage (prompt_tokens, output_tokens)."""

    def generate(self, prompt: str, app_id: str | None = None, *, requester: str = ...,
                 repair: Any = None, prefer: str | None = None) -> AsyncIterator[Any]: ...


@dataclass
class Outcome:
    id: str
    family: str
    verdict: str           # working | honest | wrong
    stage: str             # refused | failed | analysis | launch | script | outside-app | crashed | hung
    detail: str
    seconds: float = 0.0   # the whole prompt
    generate_seconds: float = 0.0
    prompt_tokens: int = 0
    output_tokens: int = 0
    tries: int = 0
    title: str = ""
    outside: bool = False
    scopes: list[str] = field(default_factory=list)
    how: str = ""          # how the app language made it (the gateway's note), e.g. "written by the adapter"


@dataclass
class _Produced:
    code: str = ""
    manifest: Any = None
    title: str = ""
    tries: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    stage: str = ""   # set when nothing usable came: refused | failed | analysis | crashed | hung
    detail: str = ""
    how: str = ""


async def produce(generator: Generator, prompt: str, repairs: int = REPAIR_TRIES) -> _Produced:
    """Generate and analyse, repairing with the located findings up to `repairs` times, as the shell
    does. Refusals and reported errors end it with a reason; anything else that escapes is a crash."""
    out = _Produced()
    repair = None
    for attempt in range(1, repairs + 2):
        out.tries = attempt
        generation = None
        try:
            async for event in generator.generate(prompt, requester="bench", repair=repair):
                if hasattr(event, "code") and hasattr(event, "manifest"):
                    generation = event
        except Refusal as refusal:
            out.stage, out.detail = "refused", str(refusal) or type(refusal).__name__
            return out
        except GatewayError as error:
            out.stage, out.detail = ("failed", str(error)) if str(error).strip() else \
                ("crashed", f"{type(error).__name__} without a message")
            return out
        usage = getattr(generation, "usage", None)
        out.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
        out.output_tokens += int(getattr(usage, "output_tokens", 0) or 0)
        if generation is None:
            out.stage, out.detail = "crashed", "the generator ended without an app or a reason"
            return out
        manifest = generation.manifest.to_json() if hasattr(generation.manifest, "to_json") \
            else generation.manifest
        out.code, out.manifest, out.title = generation.code, manifest, str(getattr(generation, "title", ""))
        made_how = [n for n in getattr(generation, "notes", []) if str(n).startswith("app language: ")]
        out.how = str(made_how[0]).removeprefix("app language: ").split(",")[0] if made_how else ""
        try:
            report = analyse(generation.code, manifest)
            problems = [str(f) for f in report.findings]
        except ManifestError as error:
            problems = [f"bad manifest: {error}"]
        if not problems:
            out.stage = ""
            return out
        out.stage = "analysis"
        out.detail = f"fails analysis after {attempt} tries: " + "; ".join(problems[:3])
        repair = Repair(code=generation.code, problems=problems, attempt=attempt)
    return out


def scopes_of(manifest: Any) -> list[str]:
    return list(Manifest.parse(manifest).scopes)


async def try_app(kernel: HeadlessKernel, case: Case, code: str, scopes: list[str]) -> tuple[str, str]:
    """Launch the app with every capability it asked for and run the case's script:
    (stage, detail) with stage '' when every expectation held."""
    app: HeadlessApp | None = None
    try:
        try:
            app = await kernel.launch(code, scopes, app_id=f"bench-{case.id}")
        except (LaunchError, ValueError) as error:
            return "launch", f"did not start: {error}"
        holder = app

        async def relaunch() -> AppDriver:
            nonlocal holder
            try:
                holder = await kernel.relaunch(holder)
            except LaunchError as error:
                raise AppStopped(f"did not start again: {error}") from None
            return holder.driver

        verdict = await run_script(app.driver, case.steps, case.expect, relaunch=relaunch)
        app = holder
        return ("", verdict.detail) if verdict.ok else ("script", verdict.detail)
    except DriverError as error:
        return "script", str(error)
    finally:
        if app is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(app.stop(), 15)


T = TypeVar("T")


async def within(work: Awaitable[T], timeout: float) -> T:
    """asyncio.wait_for that keeps cancelling until the work has stopped, and then raises TimeoutError
    whatever the work did: on Python 3.11 a cancellation that lands as an inner wait_for completes is
    lost (cpython gh-86296), and a fast-forwarded script would run on for minutes on a busy machine."""
    task = asyncio.ensure_future(work)
    await asyncio.wait({task}, timeout=timeout)
    if task.done():
        return task.result()
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    raise TimeoutError


async def evaluate(case: Case, generator: Generator, kernel: HeadlessKernel, *,
                   repairs: int = REPAIR_TRIES, generate_timeout: float = GENERATE_TIMEOUT,
                   script_timeout: float = SCRIPT_TIMEOUT) -> Outcome:
    started = time.perf_counter()
    outcome = Outcome(case.id, case.family, "wrong", "", "", outside=case.outside)
    try:
        made = await within(produce(generator, case.prompt, repairs), generate_timeout)
    except TimeoutError:
        made = _Produced(stage="hung", detail=f"no answer from the generator in {generate_timeout:.0f} s")
    except Exception as error:  # a generator bug is not an honest "cannot"
        made = _Produced(stage="crashed", detail=f"{type(error).__name__}: {error}")
    outcome.generate_seconds = time.perf_counter() - started
    outcome.tries, outcome.title, outcome.how = made.tries, made.title, made.how
    outcome.prompt_tokens, outcome.output_tokens = made.prompt_tokens, made.output_tokens
    if made.stage:
        outcome.verdict = "honest" if made.stage in ("refused", "failed", "analysis") else "wrong"
        outcome.stage, outcome.detail = made.stage, made.detail
    elif case.outside:
        outcome.stage, outcome.detail = "outside-app", f"made an app ({made.title!r}) for a request it " \
                                                       f"cannot serve: {case.reason}"
    else:
        try:
            outcome.scopes = scopes_of(made.manifest)
            stage, detail = await within(try_app(kernel, case, made.code, outcome.scopes), script_timeout)
        except TimeoutError:
            stage, detail = "hung", f"launching and using the app took over {script_timeout:.0f} s"
        except Exception as error:
            stage, detail = "crashed", f"{type(error).__name__}: {error}"
        outcome.verdict = "working" if not stage else "wrong"
        outcome.stage, outcome.detail = stage, detail
    outcome.seconds = time.perf_counter() - started
    return outcome


# -- the run ---------------------------------------------------------------------------------------------
def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.fmean(values) if values else 0.0


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    inside = [o for o in outcomes if not o.outside]
    outside = [o for o in outcomes if o.outside]

    def share(items: list[Outcome], verdict: str) -> float:
        return round(_mean(o.verdict == verdict for o in items), 3)

    families = {}
    for family in FAMILIES:
        members = [o for o in inside if o.family == family]
        if members:
            families[family] = f"{sum(o.verdict == 'working' for o in members)}/{len(members)}"
    return {
        "prompts": len(outcomes), "in_language": len(inside), "outside_language": len(outside),
        "working_share": share(inside, "working"), "honest_share": share(inside, "honest"),
        "wrong_share": share(inside, "wrong"), "outside_refused_share": share(outside, "honest"),
        "wrong_share_all": share(outcomes, "wrong"),
        "seconds_per_app_median": round(statistics.median(o.seconds for o in outcomes), 1) if outcomes else 0,
        "seconds_per_app_mean": round(_mean(o.seconds for o in outcomes), 1),
        "tokens_per_app_mean": round(_mean(o.prompt_tokens + o.output_tokens for o in outcomes)),
        "output_tokens_per_app_mean": round(_mean(o.output_tokens for o in outcomes)),
        "prompt_tokens_per_app_mean": round(_mean(o.prompt_tokens for o in outcomes)),
        "seconds_per_app_working_median": round(statistics.median(
            o.seconds for o in outcomes if o.verdict == "working"), 1) if any(
            o.verdict == "working" for o in outcomes) else 0,
        "by_adapter": sum(o.how.startswith("written by the adapter") for o in outcomes),
        "by_adapter_working": sum(o.how.startswith("written by the adapter") and o.verdict == "working"
                                  for o in outcomes),
        "working_by_family": families,
    }


def table(outcomes: list[Outcome]) -> str:
    lines = [f"{'prompt':22} {'family':11} {'verdict':8} {'stage':11} {'s':>6} {'tokens':>7}  detail"]
    for o in outcomes:
        detail = " ".join(o.detail.split())
        lines.append(f"{o.id:22} {o.family:11} {o.verdict:8} {o.stage or '-':11} {o.seconds:6.1f} "
                     f"{o.prompt_tokens + o.output_tokens:7d}  {detail[:110]}")
    s = summary(outcomes)
    lines += [
        "",
        f"in the app language: {s['in_language']} prompts: working {s['working_share']:.0%}, "
        f"honest failure {s['honest_share']:.0%}, wrong {s['wrong_share']:.0%}",
        f"outside the language: {s['outside_language']} prompts: refused {s['outside_refused_share']:.0%}",
        f"wrong without saying so, all prompts: {s['wrong_share_all']:.0%}",
        f"per app: {s['seconds_per_app_median']} s median ({s['seconds_per_app_mean']} s mean), "
        f"{s['tokens_per_app_mean']} tokens mean ({s['output_tokens_per_app_mean']} generated)",
        "working by family: " + ", ".join(f"{k} {v}" for k, v in s["working_by_family"].items()),
    ]
    return "\n".join(lines)


def side_by_side(runs: dict[str, list[Outcome]]) -> str:
    """The strategies of one run next to each other (issue 15's comparison)."""
    rows = [("working, in the language", lambda s: f"{s['working_share']:.0%}"),
            ("honest failure", lambda s: f"{s['honest_share']:.0%}"),
            ("wrong, in the language", lambda s: f"{s['wrong_share']:.0%}"),
            ("wrong without saying so, all", lambda s: f"{s['wrong_share_all']:.0%}"),
            ("outside the language refused", lambda s: f"{s['outside_refused_share']:.0%}"),
            ("prompt tokens per app (mean)", lambda s: str(s["prompt_tokens_per_app_mean"])),
            ("generated tokens per app (mean)", lambda s: str(s["output_tokens_per_app_mean"])),
            ("s per prompt (median)", lambda s: str(s["seconds_per_app_median"])),
            ("s per working app (median)", lambda s: str(s["seconds_per_app_working_median"])),
            ("apps the adapter wrote (working)", lambda s: f"{s['by_adapter']} ({s['by_adapter_working']})")]
    sums = {name: summary(outcomes) for name, outcomes in runs.items()}
    lines = [f"{'':34}" + "".join(f"{name:>16}" for name in sums)]
    lines += [f"{label:34}" + "".join(f"{show(s):>16}" for s in sums.values()) for label, show in rows]
    return "\n".join(lines)


def select(cases: list[Case], family: str | None = None, ids: str | None = None, limit: int | None = None,
           per_family: int | None = None) -> list[Case]:
    chosen = [c for c in cases if (family is None or c.family == family)
              and (ids is None or c.id in ids.split(","))]
    if per_family:
        chosen = [c for f in FAMILIES for c in [c for c in chosen if c.family == f][:per_family]]
    return chosen[:limit] if limit else chosen


def quiet_children(log: Path) -> TextIO:
    """Send this process's fd 2 (inherited by app hosts, written by llama.cpp) to `log`; return a
    stream on the original stderr for progress."""
    sys.stderr.flush()
    progress = os.fdopen(os.dup(2), "w", buffering=1)
    handle = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(handle, 2)
    os.close(handle)
    return progress


async def run(cases: list[Case], generator: Generator, progress: TextIO, **kw: Any) -> list[Outcome]:
    outcomes: list[Outcome] = []
    async with HeadlessKernel(limits=SCRIPTED) as kernel:
        for number, case in enumerate(cases, 1):
            progress.write(f"[{number}/{len(cases)}] {case.id}: {case.prompt!r} … ")
            progress.flush()
            outcome = await evaluate(case, generator, kernel, **kw)
            outcomes.append(outcome)
            progress.write(f"{outcome.verdict} ({outcome.stage or 'ok'}, {outcome.seconds:.1f} s, "
                           f"{outcome.prompt_tokens + outcome.output_tokens} tokens) "
                           f"{' '.join(outcome.detail.split())[:160]}\n")
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=Path, default=PROMPTS,
                        help="the prompt set (default %(default)s; same format)")
    parser.add_argument("--limit", type=int, help="only the first N prompts (after --family/--ids)")
    parser.add_argument("--family", choices=FAMILIES)
    parser.add_argument("--ids", help="comma-separated prompt ids")
    parser.add_argument("--per-family", type=int, help="only the first N prompts of each family")
    parser.add_argument("--json", type=Path, help="write every outcome and the summary here")
    parser.add_argument("--log", type=Path, default=Path(tempfile.gettempdir()) / "gateway_apps.log",
                        help="where app hosts and the model runtime log (default %(default)s)")
    parser.add_argument("--max-tokens", type=int, help="override the gateway's local_max_tokens")
    parser.add_argument("--repairs", type=int, default=REPAIR_TRIES)
    parser.add_argument("--adapter", help='[gateway] adapter for this run: "shipped", a path, or "" for none '
                        "(default: the setting's default)")
    parser.add_argument("--side-by-side", action="store_true",
                        help="each prompt twice: few-shot alone, then with the adapter (--adapter, default "
                             "shipped)")
    args = parser.parse_args(argv)
    cases = select(load_cases(args.prompts), args.family, args.ids, args.limit, args.per_family)
    if not cases:
        parser.error("no prompt matches")

    from llmos.kernel.gateway import Gateway, GatewaySettings  # loads the model runtime: only when run

    overrides: dict[str, Any] = {"requests_per_minute": 10_000, "daily_token_budget": 10**9,
                                 "per_app_token_budget": 10**9}
    if args.max_tokens:
        overrides["local_max_tokens"] = args.max_tokens
    progress = quiet_children(args.log)
    if args.side_by_side:
        strategies = {"few-shot": "", "adapter": args.adapter or "shipped"}
    else:
        strategies = {"few-shot" if args.adapter == "" else "adapter" if args.adapter else "default":
                      args.adapter}
    started = dt.datetime.now(dt.UTC)
    runs: dict[str, list[Outcome]] = {}
    models: dict[str, str] = {}
    for name, adapter in strategies.items():
        settings = dict(overrides, **({} if adapter is None else {"adapter": adapter}))
        gateway = Gateway(GatewaySettings.load(settings))

        async def go(gateway: Gateway = gateway) -> list[Outcome]:
            try:
                return await run(cases, gateway, progress, repairs=args.repairs)
            finally:
                await gateway.close()

        progress.write(f"== {name}\n")
        runs[name] = asyncio.run(go())
        models[name] = getattr(gateway.local, "model_name", "?")
        loaded = getattr(gateway.local, "adapter", None)
        problem = getattr(gateway.local, "adapter_problem", "")
        if loaded is not None:
            models[name] += f" + {loaded.path.name} ({loaded.steps} steps)"
        if problem:
            progress.write(f"{problem}\n")
        print(f"== {name}: {models[name]}")
        print(table(runs[name]))
    if len(runs) > 1:
        print("\n== side by side")
        print(side_by_side(runs))
    if args.json:
        args.json.write_text(json.dumps({
            "started": started.isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.platform()}",
            "runs": {name: {"model": models[name], "summary": summary(outcomes),
                            "outcomes": [asdict(o) for o in outcomes]} for name, outcomes in runs.items()},
        }, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
