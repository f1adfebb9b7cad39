"""`llmos app history REF` and `llmos app rollback REF [--to VERSION]`: through the kernel service when
it runs (apps.history, apps.rollback: running versions are stopped first), else on the state directory
directly. Hooked into `llmos app` by kernel/cli.py (add_commands)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

Local = Callable[[argparse.Namespace, Any], Mapping[str, Any]]  # (args, Versions) -> the API's answer


def _answer(args: argparse.Namespace, method: str, params: dict[str, object],
            local: Local) -> Mapping[str, Any]:
    from llmos.kernel import remote

    if remote.available():
        try:
            answer: Mapping[str, Any] = remote.call(method, **params)
            return answer
        except remote.KernelUnavailable:
            pass
    from llmos import paths
    from llmos.kernel.registry import Registry
    from llmos.kernel.sandbox.storage import AppStorage

    from . import Versions

    storage = AppStorage(paths.state_dir() / "apps")
    with Registry.open() as registry:
        versions = Versions(registry, storage)
        try:
            return local(args, versions)
        finally:
            versions.close()
            storage.close()


def _run(method: str, params: Callable[[argparse.Namespace], dict[str, object]], local: Local,
         show: Callable[[Mapping[str, Any]], None]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from llmos.ipc import RpcError
        from llmos.kernel.registry import NotFound, RecordError

        try:
            answer = _answer(args, method, params(args), local)
        except (RpcError, NotFound, RecordError, ValueError, OSError) as error:
            print(f"llmos app: {error}", file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps(answer, indent=1))
        else:
            show(answer)
        return 0
    return run


def show_history(history: Mapping[str, Any]) -> None:
    forked = f" (forked from {history['forkedFrom'][7:19]})" if history.get("forkedFrom") else ""
    print(f"{history['identity']}{forked}")
    for v in history["versions"]:
        mark = "*" if v["current"] else " "
        stars = f"{v['rating']:g}★" if v["rating"] is not None else ""
        gone = "  (removed from the registry)" if v["removed"] else ""
        print(f"{mark} {v['seq']:>3}  {v['hash'][7:19]}  {v['generatedAt'] or v['added']:<20}  "
              f"{v['model'] or '?':<24.24} {stars:>4}  {v['how']}{gone}")
    for row in history.get("aside", []):
        print(f"  kept aside: {row['key']!r} from {row['version'][7:19] or 'before'}: {row['reason']}")


def show_switch(switched: Mapping[str, Any]) -> None:
    how = "its saved view of the data restored" if switched["restored"] else "data carried over"
    print(f"{switched['identity']}: now version {switched['seq']} ({switched['to'][7:19]}), {how}")
    if switched.get("stopped"):
        print(f"  stopped {', '.join(switched['stopped'])}: run it again with `llmos app run`")
    if switched.get("notice"):
        print(f"  {switched['notice']}")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add history and rollback to `llmos app`'s subparsers."""
    p = sub.add_parser("history", help="an app's versions in order, with model, date and rating")
    p.add_argument("app", help="an app identity (app-…), or any of its versions' hash or prefix")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_run("apps.history", lambda a: {"ref": a.app},
                            lambda a, versions: versions.history(a.app).to_json(), show_history))
    p = sub.add_parser("rollback", help="go back to an earlier version of an app (no model is asked)")
    p.add_argument("app", help="an app identity, or any of its versions' hash or prefix")
    p.add_argument("--to", help="a version number or hash (default: the one before the current one)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_run("apps.rollback", lambda a: {"ref": a.app, "to": a.to},
                            lambda a, versions: versions.rollback(a.app, a.to).to_json(), show_switch))
