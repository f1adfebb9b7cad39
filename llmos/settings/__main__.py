"""`python -m llmos.settings --markdown`: print docs/settings.md from the declarations.
`python -m llmos.settings`: print the settings in effect, with any problems in the files."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmos.settings")
    parser.add_argument("--markdown", action="store_true", help="print docs/settings.md")
    args = parser.parse_args(argv)
    if args.markdown:
        from llmos.settings.markdown import markdown

        sys.stdout.write(markdown())
        return 0
    from llmos import config

    loaded = config.load()
    for problem in loaded.problems:
        print(f"llmos: config: {problem}", file=sys.stderr)
    print(json.dumps(asdict(loaded.settings), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
