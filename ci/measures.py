#!/usr/bin/env python3
"""The layout measures of issue 10, over the non-test Python of a checkout (tests/, bench/, build/ and
hidden folders are left out). Deterministic: the same tree always gives the same numbers.

    python3 ci/measures.py [ROOT] [--detail]

- duplicate class names: class names defined by more than one `class` statement;
- settings-default places: files that declare a default for an llmos.toml setting: a `setting(...)`
  declaration, a module-level `…DEFAULTS` table, or a literal default read from a raw section table
  (`cfg.section("x").get("key", default)`, directly or through a local name; None or an empty
  table as the default is a missing value, not a declared default);
- Any lines: lines on which `Any` (or `typing.Any`) is used, imports not counted;
- files over 400 lines.

To measure an older commit: `git worktree add /tmp/wt REV && python3 ci/measures.py /tmp/wt`.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

LONG_FILE = 400
_SKIPPED = {"tests", "bench", "build", "node_modules", "mkosi.output", "mkosi.cache"}


def sources(root: Path) -> Iterator[Path]:
    """The non-test .py files under `root`, in a stable order."""
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if parts[0] in _SKIPPED or any(p.startswith(".") or p.endswith(".egg-info") for p in parts):
            continue
        yield path


def class_names(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            yield node.name


def any_lines(tree: ast.AST) -> set[int]:
    """Lines that use Any, outside import statements."""
    imports = {id(n) for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
               for n in ast.walk(node)}
    lines: set[int] = set()
    for node in ast.walk(tree):
        if id(node) in imports:
            continue
        if (isinstance(node, ast.Name) and node.id == "Any") or (
                isinstance(node, ast.Attribute) and node.attr == "Any"):
            lines.add(node.lineno)
        for annotation in _annotations(node):
            if _quoted_any(annotation):
                lines.add(annotation.lineno)
    return lines


def _annotations(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.arg | ast.AnnAssign):
        return [node.annotation] if node.annotation else []
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return [node.returns] if node.returns else []
    return []


def _quoted_any(annotation: ast.expr) -> bool:
    """A string annotation ("dict[str, Any]") that names Any."""
    if not (isinstance(annotation, ast.Constant) and isinstance(annotation.value, str)):
        return False
    try:
        parsed = ast.parse(annotation.value, mode="eval")
    except SyntaxError:
        return False
    return any(isinstance(n, ast.Name) and n.id == "Any" for n in ast.walk(parsed))


def _is_section_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "section")


def _empty(node: ast.expr) -> bool:
    """None or an empty table: a missing value, not a declared default."""
    if isinstance(node, ast.Constant):
        return node.value is None
    if isinstance(node, ast.Dict):
        return not node.keys
    return isinstance(node, ast.List | ast.Tuple) and not node.elts


def declares_defaults(tree: ast.Module) -> bool:
    """Whether the module declares a default for a setting of llmos.toml (see the module docstring)."""
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id.endswith("DEFAULTS") for t in targets):
            return True
    from_section: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _is_section_call(node.value):
            from_section.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple):
            for target in node.targets:
                if isinstance(target, ast.Tuple):
                    from_section.update(t.id for t, v in zip(target.elts, node.value.elts, strict=False)
                                        if isinstance(t, ast.Name) and _is_section_call(v))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "setting":
            return True
        if (isinstance(func, ast.Attribute) and func.attr == "get" and len(node.args) == 2
                and not _empty(node.args[1])
                and (_is_section_call(func.value)
                     or (isinstance(func.value, ast.Name) and func.value.id in from_section))):
            return True
    return False


def measure(root: Path) -> dict[str, dict[str, int]]:
    """Each measure as {item: count}; the measure's number is the number of items."""
    defined: dict[str, int] = defaultdict(int)
    anys: dict[str, int] = {}
    defaults: dict[str, int] = {}
    long: dict[str, int] = {}
    for path in sources(root):
        name = str(path.relative_to(root))
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=name)
        for cls in class_names(tree):
            defined[cls] += 1
        if found := len(any_lines(tree)):
            anys[name] = found
        if declares_defaults(tree):
            defaults[name] = 1
        if (lines := len(text.splitlines())) > LONG_FILE:
            long[name] = lines
    return {
        "duplicate class names": {cls: n for cls, n in sorted(defined.items()) if n > 1},
        "settings-default places": defaults,
        "Any lines": anys,
        f"files over {LONG_FILE} lines": long,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--detail", action="store_true", help="list what each measure counts")
    args = parser.parse_args(argv)
    for title, items in measure(args.root).items():
        number = sum(items.values()) if title == "Any lines" else len(items)
        print(f"{title}: {number}")
        if args.detail:
            for item, count in sorted(items.items(), key=lambda kv: (-kv[1], kv[0])):
                print(f"    {count:5d}  {item}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
