"""warm: the sample covers every widget, and a process forked after it draws text without reading a file."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from llmos.sdk.render.tree import WIDGETS, parse_tree
from llmos.sdk.render.warm import sample_tree

# In a fresh interpreter (fontconfig must not be loaded yet): optionally warm, fork, and count the
# read() calls the child makes while it draws text in the theme's sizes, bold and regular.
CHILD_READS = """
import os, sys
import cairocffi as cairo
from llmos.sdk.render.text import TextEngine, TextStyle
from llmos.sdk.render.warm import warm
from llmos.sdk.render.theme import Theme

def reads():
    for line in open("/proc/self/io"):
        if line.startswith("syscr"):
            return int(line.split()[1])
    raise SystemExit("no syscr in /proc/self/io")

if sys.argv[1] == "warm":
    warm()
pid = os.fork()
if pid == 0:
    # counted from here: Pango's font map starts loading fontconfig in a thread of its own as soon as
    # the engine is made, and under load that thread may be done before the first draw
    before = reads()
    engine = TextEngine()
    ctx = cairo.Context(cairo.ImageSurface(cairo.FORMAT_ARGB32, 300, 60))
    theme = Theme()
    for size in theme.font_sizes.values():
        for bold in (False, True):
            style = TextStyle(size, bold, theme.font_family)
            engine.draw(ctx, "Tip: 15% of $42.50", style, 0, 0, (0, 0, 0, 1))
    print(reads() - before - 1, flush=True)  # the second open() of /proc/self/io reads once
    os._exit(0)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def child_reads(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", CHILD_READS, mode], capture_output=True, text=True,
                          timeout=120, check=True)
    return int(done.stdout.strip())


@pytest.mark.parametrize("mode, warmed", [("cold", False), ("warm", True)])
def test_a_child_forked_after_warm_draws_text_without_reading_files(mode: str, warmed: bool) -> None:
    reads = child_reads(mode)
    if warmed:
        assert reads == 0, f"the warmed child still read {reads} times (fontconfig or fonts loaded again)"
    else:  # the control: without the warm-up the child loads fontconfig's configuration itself
        assert reads > 10, f"a cold child read only {reads} times; the test no longer sees the loading"


def kinds(node: dict[str, Any]) -> set[str]:
    found = {node["type"]}
    for child in node["children"]:
        if isinstance(child, dict):
            found |= kinds(child)
    return found


def test_the_sample_tree_is_valid_and_has_every_widget() -> None:
    tree = sample_tree()
    parse_tree(tree)  # raises MalformedTree if the renderer would refuse it
    assert kinds(tree) == WIDGETS
