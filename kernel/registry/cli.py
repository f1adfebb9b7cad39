"""`llmos app remote|pull|push|trust|key|provenance`: sharing the registry over git remotes and
deciding whose signatures to trust. Hooked into `llmos app` by kernel/cli.py (add_commands)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmos.api import Signer

    from . import Registry

Command = Callable[[argparse.Namespace, "Registry"], int | None]


def _run(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from . import NotFound, RecordError, Registry, SyncError, TrustError

        try:
            with Registry.open() as registry:
                return int(command(args, registry) or 0)
        except (SyncError, TrustError, NotFound, RecordError, ValueError, OSError) as error:
            print(f"llmos app: {error}", file=sys.stderr)
            return 1
    return run


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=1))


# -- remotes -----------------------------------------------------------------------------------------
def cmd_remote_add(args: argparse.Namespace, registry: Registry) -> None:
    remote = registry.remote_add(args.name, args.url)
    print(f"remote {remote.name}: {remote.url}")


def cmd_remote_list(args: argparse.Namespace, registry: Registry) -> None:
    remotes = registry.remotes()
    if args.json:
        _print_json([asdict(r) for r in remotes])
    for remote in [] if args.json else remotes:
        seen = f"last seen {remote.seen[:12]}" if remote.seen else "never pulled"
        print(f"{remote.name:<16} {remote.url}  ({seen})")


def cmd_remote_rm(args: argparse.Namespace, registry: Registry) -> None:
    print(f"removed remote {registry.remote_remove(args.name).name} (pulled apps stay)")


def cmd_pull(args: argparse.Namespace, registry: Registry) -> int:
    from . import SyncError

    names = [args.name] if args.name else [r.name for r in registry.remotes()]
    if not names:
        print("llmos app: no remotes; add one with `llmos app remote add NAME URL`", file=sys.stderr)
        return 1
    status = 0
    for name in names:
        try:
            result = registry.pull(name)
        except SyncError as error:  # one remote down or refused does not stop the others
            print(f"llmos app: {error}", file=sys.stderr)
            status = 1
            continue
        if args.json:
            _print_json(asdict(result))
        elif result.up_to_date:
            print(f"{name}: up to date")
        else:
            untrusted = (f" ({len(result.untrusted)} untrusted: their signers are not in your trust store)"
                         if result.untrusted else "")
            print(f"{name}: {len(result.new_apps)} new apps{untrusted}, {result.same_apps} apps both sides "
                  f"had, {result.statements} ratings/audits/keys, {result.fetched_bytes / 1e6:.2f} MB")
    return status


def cmd_push(args: argparse.Namespace, registry: Registry) -> None:
    result = registry.push(args.name)
    if args.json:
        _print_json(asdict(result))
    elif result.up_to_date:
        print(f"{args.name}: up to date")
    else:
        print(f"{args.name}: published {result.files} files, now at {result.head[:12]}")


# -- trust -------------------------------------------------------------------------------------------
def cmd_trust_add(args: argparse.Namespace, registry: Registry) -> None:
    from .trust import read_key_file

    trusted = registry.trust_add(args.name, read_key_file(Path(args.keyfile)))
    print(f"trusting {trusted.name}: {trusted.key}")


def cmd_trust_list(args: argparse.Namespace, registry: Registry) -> None:
    trusted = registry.trust_list()
    if args.json:
        _print_json([asdict(t) for t in trusted])
    for item in [] if args.json else trusted:
        via = f"  (rotated from {item.rotated_from[:16]}…)" if item.rotated_from else ""
        print(f"{item.name:<20} {item.key}{via}")


def cmd_trust_rm(args: argparse.Namespace, registry: Registry) -> None:
    print(f"no longer trusting {registry.trust_remove(args.name).name}")


def cmd_key_show(args: argparse.Namespace, registry: Registry) -> None:
    print(registry.key.public_pem().decode().strip() if args.pem else registry.key.public_hex)


def cmd_key_rotate(args: argparse.Namespace, registry: Registry) -> None:
    rotation = registry.rotate_key()
    print(f"new key {rotation.new} (signed by the old key {rotation.old[:16]}…); push to publish it")


def cmd_provenance(args: argparse.Namespace, registry: Registry) -> None:
    found = registry.provenance(args.app)
    if args.json:
        _print_json(found.to_json())
        return

    def who(signer: Signer) -> str:
        mark = "" if signer.trusted else " (not trusted)"
        return f"{signer.name or 'unknown key'} {signer.key[:16]}…{mark}"

    print(f"{found.hash}\n  from {found.origin}, by {who(found.author)}"
          f"\n  {'trusted' if found.trusted else 'UNTRUSTED: needs an extra confirmation to run'}")
    for audit in found.audits:
        print(f"  {'audited' if audit.audited else 'audit withdrawn'} by {who(audit.signer)} at {audit.at}"
              + (f": {audit.note}" if audit.note else ""))
    for signer, stars in found.ratings:
        print(f"  rated {stars:g} by {who(signer)}")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sharing and trust actions to `llmos app`'s subparsers."""
    p = sub.add_parser("remote", help="other registries to pull from and push to (git remotes)")
    remote = p.add_subparsers(dest="remote_command", metavar="ACTION", required=True)
    q = remote.add_parser("add", help="add a remote: http(s)://, git:// or a local path")
    q.add_argument("name")
    q.add_argument("url")
    q.set_defaults(run=_run(cmd_remote_add))
    q = remote.add_parser("list", help="list remotes")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=_run(cmd_remote_list))
    q = remote.add_parser("rm", help="remove a remote (apps pulled from it stay)")
    q.add_argument("name")
    q.set_defaults(run=_run(cmd_remote_rm))

    p = sub.add_parser("pull", help="fetch and merge apps, ratings and audits from a remote (default: all)")
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_run(cmd_pull))
    p = sub.add_parser("push", help="publish this registry to a remote")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_run(cmd_push))

    p = sub.add_parser("trust", help="publisher keys whose apps you trust")
    trust = p.add_subparsers(dest="trust_command", metavar="ACTION", required=True)
    q = trust.add_parser("add", help="trust a publisher's Ed25519 public key (PEM, OpenSSH or hex file)")
    q.add_argument("name")
    q.add_argument("keyfile")
    q.set_defaults(run=_run(cmd_trust_add))
    q = trust.add_parser("list", help="list trusted keys")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=_run(cmd_trust_list))
    q = trust.add_parser("rm", help="stop trusting a key")
    q.add_argument("name")
    q.set_defaults(run=_run(cmd_trust_rm))

    p = sub.add_parser("key", help="this machine's signing key")
    key = p.add_subparsers(dest="key_command", metavar="ACTION", required=True)
    q = key.add_parser("show", help="print the public key (give it to those who should trust you)")
    q.add_argument("--pem", action="store_true", help="as a PEM file, for `llmos app trust add`")
    q.set_defaults(run=_run(cmd_key_show))
    q = key.add_parser("rotate", help="make a new key, signed by the old one (old apps stay valid)")
    q.set_defaults(run=_run(cmd_key_rotate))

    p = sub.add_parser("provenance", help="where an app came from, who signed and audited it")
    p.add_argument("app")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_run(cmd_provenance))
