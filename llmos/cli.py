"""The `llmos` command. Each area contributes its own subcommands through `add_commands(subparsers)`,
so this file only knows which module owns which words; modules are imported lazily so that a
missing optional dependency of one area never breaks the others."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# subcommand word -> module that defines it (module.add_commands(subparsers) registers it)
AREAS: dict[str, str] = {
    "image": "llmos.host.cli",
    "vm": "llmos.host.cli",
    "flash": "llmos.host.cli",
    "bench": "llmos.host.cli",
    "status": "llmos.init.cli",
    "logs": "llmos.init.cli",
    "restart": "llmos.init.cli",
    "start": "llmos.init.cli",
    "stop": "llmos.init.cli",
    "poweroff": "llmos.init.cli",
    "reboot": "llmos.init.cli",
    "net": "llmos.hal.cli",
    "devices": "llmos.hal.cli",
    "app": "llmos.kernel.cli",
    "gateway": "llmos.kernel.gateway.cli",
    "update": "llmos.update.cli",
    "model": "llmos.host.adapter.cli",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmos", description="LLM OS: apps generated from prompts")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = [AREAS[only]] if only in AREAS else list(dict.fromkeys(AREAS.values()))
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            print(f"llmos: commands from {name} are unavailable: {error}", file=sys.stderr)
            continue
        module.add_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    first = next((word for word in argv if not word.startswith("-")), None)
    args = build_parser(first).parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `llmos logs x | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
