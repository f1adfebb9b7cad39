"""The host's own check of a render answer, the JSON text `{"tree": node | null, "next": ms | null}`
that the SDK runtime returns from flush().

Why the host checks again: app code shares the runtime's realm and can forge the answer (replace
`toJSON`, patch prototypes), so the runtime's limits are advisory. Everything here is iterative and
bounded: the nesting of the text is measured before `json.loads` sees it (Python's parser recurses
and would raise RecursionError on a forged tree a few hundred levels deep), then the tree is walked
with an explicit stack, with the same node and depth limits as the JS side.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any


class TreeError(ValueError):
    """The answer is refused; the message says where, e.g. `tree.children[2].type is not a string`."""


@dataclass(frozen=True)
class TreeLimits:
    max_nodes: int = 2000
    max_depth: int = 64          # a node's depth below the root, as the JS runtime counts it
    max_bytes: int = 1024 * 1024

    @property
    def max_nesting(self) -> int:
        """The deepest JSON nesting a tree within max_depth can have. A node at depth d sits at
        nesting 2d+2 (its object inside the parent's children list, inside the answer); its props
        object adds one level and prop values may nest while their JS depth stays within max_depth,
        which bounds the whole answer at 2*max_depth + 5. A little slack on top."""
        return 2 * self.max_depth + 8


@dataclass(frozen=True)
class Answer:
    tree: dict[str, Any] | None
    next_ms: float | None


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def nests_deeper_than(text: str, limit: int) -> bool:
    """Whether `text`'s arrays and objects nest more than `limit` deep (brackets inside strings do
    not count). Linear and without recursion; the scan stops at the first level over the limit."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _no_constants(name: str) -> float:
    raise TreeError(f"the render answer is not JSON: {name} is not a JSON number")


def parse_answer(text: Any, limits: TreeLimits) -> Answer:
    """Check and decode one render answer; raises TreeError for anything the host should not draw."""
    if not isinstance(text, str):
        raise TreeError(f"the render answer is {type(text).__name__}, not JSON text")
    if len(text) > limits.max_bytes:
        raise TreeError(f"UI tree JSON over {limits.max_bytes} bytes")
    if nests_deeper_than(text, limits.max_nesting):
        raise TreeError(f"the UI tree is deeper than {limits.max_depth} levels "
                        f"(its JSON nests over {limits.max_nesting} levels)")
    try:
        answer = json.loads(text, parse_constant=_no_constants)
    except TreeError:
        raise
    except ValueError as error:
        raise TreeError(f"the render answer is not JSON: {error}") from None
    if not isinstance(answer, dict):
        raise TreeError(f"the render answer is {type(answer).__name__}, not an object")
    tree, wake = answer.get("tree"), answer.get("next")
    if wake is not None and (isinstance(wake, bool) or not isinstance(wake, int | float)
                             or not math.isfinite(wake)):
        raise TreeError(f"the render answer's next wake-up {wake!r} is not a number of ms")
    if tree is not None:
        check_tree(tree, limits)
    return Answer(tree, wake)


def check_tree(tree: Any, limits: TreeLimits) -> int:
    """The node count of `tree`, after checking every node's shape, the node cap and the depth cap:
    every node is an object with a string type, object props and a list of children that are nodes,
    strings or numbers."""
    count, stack = 0, [(tree, "tree", 0)]
    while stack:
        node, where, depth = stack.pop()
        if not isinstance(node, dict):
            raise TreeError(f"{where} is {type(node).__name__}, not a UI node object")
        count += 1
        if count > limits.max_nodes:
            raise TreeError(f"UI tree has more than {limits.max_nodes} nodes")
        if depth > limits.max_depth:
            raise TreeError(f"the UI tree is deeper than {limits.max_depth} levels "
                            f"at {where[:120]}{'…' if len(where) > 120 else ''}")
        if not isinstance(node.get("type"), str):
            raise TreeError(f"{where}.type is not a string")
        if not isinstance(node.get("props", {}), dict):
            raise TreeError(f"{where}.props is not an object")
        children = node.get("children", [])
        if not isinstance(children, list):
            raise TreeError(f"{where}.children is not a list")
        for index, child in enumerate(children):
            if isinstance(child, dict):
                stack.append((child, f"{where}.children[{index}]", depth + 1))
            elif isinstance(child, bool) or not isinstance(child, str | int | float):
                raise TreeError(f"{where}.children[{index}] is not a node, string or number")
    return count
