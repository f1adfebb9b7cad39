"""The terminal's side of a flow (`llmos app new|run|regenerate`): the user's answers on the terminal,
the events printed (or as JSON lines with --json) and the exit status.

The flow runs in the kernel service when its socket is there, so the model is loaded once and apps
run under the kernel's broker; otherwise (host development) it runs in this process. Both print the
same events and answer the same questions, because both read the one event shape of events.py."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass

from llmos import config, ipc
from llmos.api import Ask, Offer
from llmos.kernel import remote
from llmos.kernel.caps.policy import Policy
from llmos.kernel.registry import Registry

from .events import Event, Events, outcome
from .pipeline import AppFlow, Decisions

Stream = Callable[[AppFlow], Events]


class TerminalDecisions:
    """y/n on a tty; without one, only --yes says yes. --deny SCOPE refuses one capability."""

    def __init__(self, yes: bool = False, deny: list[str] | None = None) -> None:
        self.yes, self.deny = yes, set(deny or ())
        self.interactive = sys.stdin.isatty() and sys.stderr.isatty()

    def _ask(self, question: str, default: bool) -> bool:
        if self.yes:
            return True
        if not self.interactive:
            return False
        answer = input(f"{question} [{'Y/n' if default else 'y/N'}] ").strip().lower()
        return default if not answer else answer.startswith("y")

    async def accept_cached(self, offer: Offer) -> bool:
        print(f"A similar app exists ({offer.score:.0%} alike): {offer.prompt!r} [{offer.short}]",
              file=sys.stderr)
        return self._ask("Use it instead of generating a new one?", True)

    async def approve(self, asks: list[Ask]) -> set[str]:
        granted = set()
        for ask in asks:
            label = "needs" if ask.required else "would like (optional)"
            if ask.scope in self.deny:
                print(f"  denied: {ask.words} [{ask.scope}]", file=sys.stderr)
                continue
            if ask.warning:
                print(f"  warning: {ask.warning}", file=sys.stderr)
            if self._ask(f"The app {label} to: {ask.words} [{ask.scope}]. Allow?", ask.required):
                granted.add(ask.scope)
        return granted


@dataclass(frozen=True)
class Terminal:
    """Where a flow's events go: JSON lines on stdout, or plain lines (and a progress bar on a tty)."""

    as_json: bool
    bar: bool

    @classmethod
    def for_args(cls, args: argparse.Namespace) -> Terminal:
        return cls(as_json=bool(args.json), bar=sys.stderr.isatty() and not args.json)

    def show(self, event: Event) -> None:
        if self.as_json:
            print(json.dumps(event.to_json()), flush=True)
            return
        data = event.data
        if event.kind == "generating":
            if self.bar:
                width = 30
                done = int(width * data["fraction"])
                sys.stderr.write(f"\r  [{'#' * done}{' ' * (width - done)}] {data['fraction']:4.0%} "
                                 f"{data['phase']:<14} {data['tokens']} tokens")
                sys.stderr.flush()
            return
        if self.bar:
            sys.stderr.write("\r" + " " * 70 + "\r")
        if event.kind == "analysed" and not data["ok"]:
            print(f"analysis found {len(data['findings'])} problem(s):", file=sys.stderr)
            for f in data["findings"][:10]:
                print(f"  {f['line']}:{f['col']}: {f['rule']}: {f['message']}", file=sys.stderr)
        elif event.kind == "repairing":
            print(f"asking the model to repair it (try {data['attempt']})", file=sys.stderr)
        elif event.kind == "migration":
            moves = ", ".join(f"{old} → {new}" for old, new in data["mapping"].get("rename", {}).items())
            if data.get("refused"):
                print(f"stored data: no mapping used ({data['refused']}); values the new version does not "
                      "read will be kept aside", file=sys.stderr)
            else:
                print(f"stored data: {data['model']} mapped {moves}", file=sys.stderr)
        elif event.kind == "saved":
            print(f"saved {data['hash']}")
        elif event.kind == "launched":
            print(f"launched {data['hash'][7:19]} with {', '.join(data['granted']) or 'no capabilities'}")
        elif event.kind == "failed":
            print(f"llmos app: {data['reason']}", file=sys.stderr)


def _decisions(args: argparse.Namespace) -> TerminalDecisions:
    return TerminalDecisions(getattr(args, "yes", False), getattr(args, "deny", None))


async def follow(events: Events, terminal: Terminal) -> int:
    """Show every event; the exit status is 0 when the flow succeeded (events.outcome)."""
    ok = False
    async with contextlib.aclosing(events):
        async for event in events:
            terminal.show(event)
            ok = outcome(ok, event.kind)
    return 0 if ok else 1


# -- in this process ----------------------------------------------------------------------------------
def local_flow(args: argparse.Namespace, registry: Registry) -> AppFlow:
    cfg = config.load()
    return AppFlow(registry, _decisions(args), policy=Policy.from_settings(cfg.settings.apps),
                   use_cache=not getattr(args, "no_cache", False), run=not getattr(args, "no_run", False),
                   repair_tries=cfg.settings.apps.repair_tries, prefer=getattr(args, "model", None),
                   max_prompt_chars=cfg.settings.gateway.max_prompt_chars)


def run_here(args: argparse.Namespace, stream: Stream) -> int:
    """Run the flow in this process, on the registry opened directly; returns the exit status."""
    with Registry.open() as registry:
        flow = local_flow(args, registry)
        return asyncio.run(follow(stream(flow), Terminal.for_args(args)))


# -- in the kernel service ----------------------------------------------------------------------------
async def kernel_events(client: ipc.Client, flow: str, decisions: Decisions) -> Events:
    """The flow's events as the kernel pushes them, up to `finished`; questions are answered after
    the event that asks them was shown."""
    while True:
        name, data = await client.events.get()
        if name != "flow" or data.get("flow") != flow:
            continue
        event = Event.from_json(data)
        if event.kind == "finished":
            return
        yield event
        if event.kind == "offered-cached":
            accept = await decisions.accept_cached(Offer.from_json(event.data))
            await client.call("flow.answer", flow=flow, accept_cached=bool(accept))
        elif event.kind == "needs-approval":
            granted = await decisions.approve([Ask.from_json(a) for a in event.data["asks"]])
            await client.call("flow.approve", flow=flow, granted=sorted(granted))


def run_in_kernel(args: argparse.Namespace, method: str, **params: object) -> int | None:
    """Run the flow in the kernel service; None when no kernel answers (run it here instead)."""
    if not remote.available():
        return None
    terminal, decisions = Terminal.for_args(args), _decisions(args)

    async def main() -> int:
        client = await remote.connect()
        flow = None
        try:
            started = await client.call(method, timeout=30.0, launch=not getattr(args, "no_run", False),
                                        **params)
            flow = started["flow"]
            return await follow(kernel_events(client, flow, decisions), terminal)
        except ipc.RpcError as error:
            print(f"llmos app: {error.message}", file=sys.stderr)
            return 1
        except asyncio.CancelledError:
            if flow is not None:
                await client.call("flow.cancel", flow=flow)
            raise
        finally:
            await client.close()

    try:
        return asyncio.run(main())
    except remote.KernelUnavailable:
        return None
    except PermissionError as error:
        print(f"llmos app: {error}", file=sys.stderr)
        return 1
