"""`llmos gateway ...`: try a generation with a progress bar, see the providers and their health, read
the audit log and today's usage.

    llmos gateway generate "a tea timer" [--model NAME] [--max-tokens N] [--json]
    llmos gateway try --provider NAME "a tea timer" [--json]   (that provider alone, no fallback)
    llmos gateway providers [--json]
    llmos gateway audit [-n 20]
    llmos gateway usage
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from llmos import config
from llmos.kernel.gateway.errors import GatewayError, Refusal
from llmos.kernel.gateway.gateway import Gateway, Generation, Progress
from llmos.kernel.gateway.health import ProviderStatus, overview
from llmos.kernel.gateway.ledger import ANY_APP, Ledger, today
from llmos.kernel.gateway.settings import GatewaySettings


def _bar(event: Progress, width: int = 30) -> str:
    filled = int(event.fraction * width)
    bar = "#" * filled + "." * (width - filled)
    return f"\r[{bar}] {event.fraction:4.0%} {event.phase:<13} {event.tokens:4d} tok"


async def _generate(args: argparse.Namespace) -> int:
    overrides = {"local_max_tokens": args.max_tokens} if args.max_tokens else {}
    gateway = Gateway(GatewaySettings.load(overrides))
    tty = sys.stderr.isatty()
    try:
        async for event in gateway.generate(args.prompt, app_id=args.app, requester="cli",
                                            prefer=getattr(args, "model", None),
                                            only=getattr(args, "provider", None)):
            if isinstance(event, Progress):
                if tty and event.phase != "fallback":
                    print(_bar(event), end="", file=sys.stderr, flush=True)
                elif event.phase != "generating":
                    print(f"{event.phase}: {event.detail}", file=sys.stderr)
                continue
            result: Generation = event
            if tty:
                print(file=sys.stderr)
            if args.json:
                print(json.dumps(result.to_json(), indent=2))
            else:
                print(f"// {result.provider} {result.model}, {result.usage.output_tokens} tokens; "
                      f"capabilities: {', '.join(result.manifest.scopes)}")
                for note in result.notes:
                    print(f"// note: {note}")
                print(result.code, end="")
    except Refusal as refusal:
        print(f"\nllmos gateway: refused: {refusal}", file=sys.stderr)
        return 2
    except GatewayError as error:
        print(f"\nllmos gateway: {error}", file=sys.stderr)
        return 1
    finally:
        await gateway.close()
    return 0


def _yes(value: bool | None) -> str:
    return "?" if value is None else "yes" if value else "NO"


def _status_lines(status: ProviderStatus) -> list[str]:
    mark = "*" if status.default else " "
    lines = [f"{mark} {status.name:<12} {status.kind:<9} {status.tier:<5} {status.model[:28]:<28} "
             f"reachable={_yes(status.reachable):<3} model={_yes(status.model_present):<3} {status.detail}"
             .rstrip()]
    if status.url:
        lines.append(f"    {status.url}")
    if status.last_error:
        lines.append(f"    last error: {status.last_error}")
    return lines


async def _providers(args: argparse.Namespace) -> int:
    loaded = config.load()
    gateway = Gateway(loaded.settings.gateway)
    try:
        found = await overview(gateway, loaded.problems)
    finally:
        await gateway.close()
    if args.json:
        print(json.dumps(found.to_json(), indent=2))
        return 0
    print("  name         kind      tier  model (* = tried first; then in this order)")
    for status in found.providers:
        print("\n".join(_status_lines(status)))
    for problem in found.problems:
        print(f"problem: {problem}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    ledger = Ledger()
    for row in reversed(ledger.audit_rows(args.n)):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(str(row["at"]))))
        print(f"{stamp} {row['requester']:<6} {row['app']:<12} {row['outcome']:<20} "
              f"{row['provider'] or '-':<5} {row['model'] or '-':<26} in={row['prompt_tokens']} "
              f"out={row['output_tokens']} ${row['cost_usd'] or 0:.4f} {row['duration_ms']} ms "
              f"prompt={str(row['prompt_sha256'])[:12]} {row['detail'] or ''}".rstrip())
    ledger.close()
    return 0


def _usage(_args: argparse.Namespace) -> int:
    settings = GatewaySettings.load()
    ledger = Ledger()
    rows = ledger.db.execute("SELECT app, tokens, cost_usd FROM usage WHERE day=? ORDER BY app",
                             (today(),)).fetchall()
    tokens, cost = ledger.spent(ANY_APP)
    print(f"today ({today()} UTC): {tokens} of {settings.daily_token_budget} tokens, "
          f"${cost:.4f} of ${settings.daily_cost_budget_usd:.2f}")
    for app, app_tokens, app_cost in rows:
        if app != ANY_APP:
            print(f"  {app:<20} {app_tokens:>8} tokens  ${app_cost:.4f}")
    ledger.close()
    return 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("gateway", help="the LLM gateway: try a generation, providers and their "
                                   "health, audit log, usage")
    commands = parser.add_subparsers(dest="gateway_command", metavar="ACTION", required=True)
    gen = commands.add_parser("generate", help="generate an app's code and manifest (not saved)")
    gen.add_argument("prompt")
    gen.add_argument("--model", help="preferred provider: local, cloud or a [[gateway.providers]] name")
    gen.add_argument("--app", default=None, help="app id charged for the tokens")
    gen.add_argument("--max-tokens", type=int, default=0, help="cap for the local model's answer")
    gen.add_argument("--json", action="store_true", help="print the Generation as JSON")
    gen.set_defaults(run=lambda args: asyncio.run(_generate(args)))
    one = commands.add_parser("try", help="one generation through the named provider alone (not saved)")
    one.add_argument("--provider", required=True, help="local, cloud or a [[gateway.providers]] name")
    one.add_argument("prompt")
    one.add_argument("--app", default=None, help="app id charged for the tokens")
    one.add_argument("--max-tokens", type=int, default=0, help="cap for the local model's answer")
    one.add_argument("--json", action="store_true", help="print the Generation as JSON")
    one.set_defaults(run=lambda args: asyncio.run(_generate(args)))
    providers = commands.add_parser("providers", help="the providers in routing order, with their health")
    providers.add_argument("--json", action="store_true", help="print them as JSON")
    providers.set_defaults(run=lambda args: asyncio.run(_providers(args)))
    audit = commands.add_parser("audit", help="the last audit-log rows")
    audit.add_argument("-n", type=int, default=20)
    audit.set_defaults(run=_audit)
    usage = commands.add_parser("usage", help="today's token and cost use against the budgets")
    usage.set_defaults(run=_usage)
