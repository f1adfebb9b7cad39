"""`llmos app ...`: create, list, show, run, fork, rate, audit, export, import, rm, regenerate, seed,
ps, stop (history and rollback: kernel/versions/cli.py; sharing and trust: kernel/registry/cli.py).

When the kernel service is running (its socket exists), new/run/regenerate/list/ps/stop go through
it (kernel/remote.py, kernel/flow/client.py): the model is loaded once, in the kernel, and apps run
under its broker. Otherwise (host development) the CLI opens the registry directly (safe across
processes: flock + git CAS + SQLite WAL) and runs the same AppFlow in-process, answering questions
on the terminal."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmos.ipc import RpcError

if TYPE_CHECKING:
    from llmos.kernel.registry import Registry

Command = Callable[[argparse.Namespace], int]


def cmd_new(args: argparse.Namespace) -> int:
    from llmos.kernel.flow import client

    status = client.run_in_kernel(args, "flow.start", prompt=args.prompt, use_cache=not args.no_cache,
                                  prefer=args.model)
    return client.run_here(args, lambda flow: flow.new(args.prompt)) if status is None else status


def cmd_run(args: argparse.Namespace) -> int:
    from llmos.kernel.flow import client

    status = client.run_in_kernel(args, "flow.run", ref=args.app)
    return client.run_here(args, lambda flow: flow.launch(args.app)) if status is None else status


def cmd_regenerate(args: argparse.Namespace) -> int:
    from llmos.kernel.flow import client

    try:
        migration = json.loads(Path(args.migration).read_text(encoding="utf-8")) if args.migration else None
    except (OSError, ValueError) as error:
        print(f"llmos app: --migration {args.migration}: {error}", file=sys.stderr)
        return 1
    status = client.run_in_kernel(args, "flow.regenerate", ref=args.app, prefer=args.model,
                                  migration=migration)
    if status is None:
        status = client.run_here(args, lambda flow: flow.regenerate(args.app, args.model, migration))
    return status


def _kernel_call(method: str, **params: Any) -> Any:
    """One request to the kernel service; LookupError when it is not running."""
    from llmos.kernel import remote

    if not remote.available():
        raise LookupError("the kernel service is not running")
    try:
        return remote.call(method, **params)
    except remote.KernelUnavailable as error:
        raise LookupError(f"the kernel service is not running ({error})") from None


def cmd_list_any(args: argparse.Namespace) -> int:
    try:
        items = _kernel_call("apps.list")
    except LookupError:
        return _with_registry(cmd_list)(args)
    except (PermissionError, RpcError) as error:
        print(f"llmos app: {error}", file=sys.stderr)
        return 1
    from llmos.kernel.remote import list_json

    if args.json:
        print(json.dumps(list_json(items)))
        return 0
    for item in items:
        stars = f"{item['rating']:g}★" if item["rating"] is not None else "  "
        audited = "audited" if item.get("audited") else ""
        print(f"{item['hash'][7:19]}  {stars:>4} {audited:<7}  {item['model']:<20.20} {item['prompt'][:60]}")
    return 0


def cmd_ps(args: argparse.Namespace) -> int:
    try:
        running = _kernel_call("apps.running")
    except (LookupError, PermissionError, RpcError) as error:
        print(f"llmos app: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(running))
    for app in [] if args.json else running:
        print(f"{app['app_id']:<22} {app['pid']:>7}  {app['state']:<8} {app['title']}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    try:
        result = _kernel_call("apps.stop", app_id=args.app_id)
    except (LookupError, PermissionError, RpcError) as error:
        print(f"llmos app: {error}", file=sys.stderr)
        return 1
    print(f"{result['app_id']} {result['state']}")
    return 0


def _with_registry(fn: Callable[[argparse.Namespace, Registry], int]) -> Command:
    def run(args: argparse.Namespace) -> int:
        from llmos.kernel.registry import BundleError, NotFound, RecordError, Registry

        try:
            with Registry.open() as registry:
                return int(fn(args, registry) or 0)
        except (NotFound, RecordError, BundleError, ValueError, OSError) as error:
            print(f"llmos app: {error}", file=sys.stderr)
            return 1
    return run


def cmd_list(args: argparse.Namespace, registry: Registry) -> int:
    records = registry.records()
    if args.json:
        print(json.dumps([{k: v for k, v in r.to_json().items() if k != "generatedCode"} for r in records]))
        return 0
    for r in records:
        stars = f"{r.rating:g}★" if r.rating is not None else "  "
        audited = "audited" if r.audited else ""
        print(f"{r.short}  {stars:>4} {audited:<7}  {r.llmModel:<20.20} {r.prompt[:60]}")
    return 0


def cmd_show(args: argparse.Namespace, registry: Registry) -> int:
    record = registry.get(args.app)
    if args.json:
        print(json.dumps(record.to_json(), indent=2))
        return 0
    for key in ("codeHash", "prompt", "llmModel", "capabilities", "optionalCapabilities", "rating",
                "audited", "generatedAt", "parent", "signedBy"):
        print(f"{key:>21}: {getattr(record, key)}")
    if args.code:
        print(record.generatedCode)
    return 0


def cmd_search(args: argparse.Namespace, registry: Registry) -> int:
    for match in registry.search(args.prompt, args.limit):
        where = match.origin if match.trusted else f"{match.origin}, untrusted"
        print(f"{match.codeHash[7:19]}  {match.score:.2f}  {match.prompt[:70]}  [{where}]")
    return 0


def cmd_fork(args: argparse.Namespace, registry: Registry) -> int:
    code = Path(args.code).read_text(encoding="utf-8")
    from llmos.kernel.analysis import analyse

    parent = registry.get(args.app)
    report = analyse(code, parent.capabilities)
    if not report.ok:
        print(report.diagnostics(), file=sys.stderr)
        return 1
    record = registry.fork(args.app, code, args.model, prompt=args.prompt)
    from llmos.kernel.versions import Versions

    versions = Versions(registry)
    try:
        identity = versions.add_fork(record).identity
    finally:
        versions.close()
    print(f"forked {parent.short} -> {record.codeHash} (a new app, {identity})")
    return 0


def cmd_rate(args: argparse.Namespace, registry: Registry) -> int:
    print(f"{registry.rate(args.app, args.stars).short} rated {args.stars:g}")
    return 0


def cmd_audit(args: argparse.Namespace, registry: Registry) -> int:
    record = registry.audit(args.app, not args.undo)
    print(f"{record.short} audited={record.audited}")
    return 0


def cmd_rm(args: argparse.Namespace, registry: Registry) -> int:
    registry.rm(args.app)
    print(f"removed {args.app}")
    return 0


def cmd_export(args: argparse.Namespace, registry: Registry) -> int:
    count = registry.export(args.apps, Path(args.output))
    print(f"exported {count} app(s) to {args.output}")
    return 0


def cmd_import(args: argparse.Namespace, registry: Registry) -> int:
    digests = registry.import_bundle(Path(args.bundle))
    print(f"imported {len(digests)} app(s)")
    return 0


def cmd_seed(args: argparse.Namespace, registry: Registry) -> int:
    from llmos.kernel import starter

    before = len(registry)
    starter.seed(registry)
    print(f"starter set: {len(registry) - before} new app(s), {len(registry)} in the registry")
    return 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    app = subparsers.add_parser("app", help="generate, run and manage apps")
    sub = app.add_subparsers(dest="app_command", metavar="ACTION", required=True)

    def flow_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--yes", "-y", action="store_true", help="answer yes to every question")
        p.add_argument("--deny", action="append", metavar="SCOPE", help="refuse this capability")
        p.add_argument("--no-run", action="store_true", help="save but do not launch")
        p.add_argument("--json", action="store_true", help="print events as JSON lines")

    p = sub.add_parser("new", help="make an app from a prompt (or offer a cached one)")
    p.add_argument("prompt")
    p.add_argument("--no-cache", action="store_true", help="always generate a new app")
    p.add_argument("--model", choices=["local", "cloud"], help="preferred model route")
    flow_flags(p)
    p.set_defaults(run=cmd_new)
    p = sub.add_parser("run", help="approve and launch a saved app")
    p.add_argument("app", help="code hash or a unique prefix")
    flow_flags(p)
    p.set_defaults(run=cmd_run)
    p = sub.add_parser("regenerate", help="regenerate an app's prompt with another model")
    p.add_argument("app")
    p.add_argument("--model", choices=["local", "cloud"], required=True)
    p.add_argument("--migration", metavar="FILE", help="how the data carries over: a JSON mapping "
                   '{"rename": {...}, "convert": {...}} (docs/versions.md)')
    flow_flags(p)
    p.set_defaults(run=cmd_regenerate)

    p = sub.add_parser("list", help="list saved apps")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_list_any)
    p = sub.add_parser("ps", help="list running apps (needs the kernel service)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_ps)
    p = sub.add_parser("stop", help="stop a running app (needs the kernel service)")
    p.add_argument("app_id")
    p.set_defaults(run=cmd_stop)
    p = sub.add_parser("show", help="show one app's record")
    p.add_argument("app")
    p.add_argument("--code", action="store_true", help="also print the code")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_with_registry(cmd_show))
    p = sub.add_parser("search", help="find saved apps with a similar prompt")
    p.add_argument("prompt")
    p.add_argument("--limit", type=int, default=5)
    p.set_defaults(run=_with_registry(cmd_search))
    p = sub.add_parser("fork", help="save edited code as a fork of an app")
    p.add_argument("app")
    p.add_argument("code", help="file with the new TypeScript")
    p.add_argument("--prompt", help="new prompt (default: the parent's)")
    p.add_argument("--model", default="hand-edited")
    p.set_defaults(run=_with_registry(cmd_fork))
    p = sub.add_parser("rate", help="rate an app, 0 to 5 stars")
    p.add_argument("app")
    p.add_argument("stars", type=float)
    p.set_defaults(run=_with_registry(cmd_rate))
    p = sub.add_parser("audit", help="mark an app as audited")
    p.add_argument("app")
    p.add_argument("--undo", action="store_true")
    p.set_defaults(run=_with_registry(cmd_audit))
    p = sub.add_parser("rm", help="remove an app")
    p.add_argument("app")
    p.set_defaults(run=_with_registry(cmd_rm))
    p = sub.add_parser("export", help="write apps to a signed bundle")
    p.add_argument("apps", nargs="*", help="apps to export (default: all)")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(run=_with_registry(cmd_export))
    p = sub.add_parser("import", help="import a bundle (refused whole if any signature is bad)")
    p.add_argument("bundle")
    p.set_defaults(run=_with_registry(cmd_import))
    p = sub.add_parser("seed", help="add the starter apps")
    p.set_defaults(run=_with_registry(cmd_seed))

    from llmos.kernel.registry import cli as sharing  # remote, pull, push, trust, key, provenance
    from llmos.kernel.versions import cli as versions  # history, rollback

    sharing.add_commands(sub)
    versions.add_commands(sub)
