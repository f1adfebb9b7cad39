"""Renderer frame cost for a ~200-widget UI: layout + paint, and the no-change fast path.

Run: .venv/bin/python bench/render_frame.py [--rounds N]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "sdk" / "render"))
import samples

from llmos.sdk.render import Renderer


def median_ms(fn, rounds: int) -> float:
    times = []
    for i in range(rounds):
        start = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    base = samples.big(200)
    counter = Renderer()
    counter.render(base)
    widgets = sum(1 for n in counter.find(lambda n: n.type == "Window").walk()) - 1
    print(f"UI: {widgets} widgets, window {counter.size()[0]}x{counter.size()[1]} logical px")

    def variant(i: int) -> dict:
        tree = copy.deepcopy(base)
        tree["children"][0]["children"][0]["children"][0]["children"] = [f"Item {i}"]
        return tree

    for scale in (1, 2):
        trees = [variant(i) for i in range(args.rounds + 1)]
        cold = Renderer(scale=scale)
        start = time.perf_counter()
        cold.render(trees[-1])
        first = (time.perf_counter() - start) * 1000
        renderer = Renderer(scale=scale)
        renderer.render(base)
        changed = median_ms(lambda i, r=renderer, t=trees: r.render(t[i]), args.rounds)
        same = trees[args.rounds - 1]
        renderer.render(same)
        unchanged = median_ms(lambda i, r=renderer, t=same: r.render(t), args.rounds)
        equal_copy = copy.deepcopy(same)
        unchanged_equal = median_ms(lambda i, r=renderer, t=equal_copy: r.render(t), args.rounds)
        buttons = [n for n in renderer.find(lambda n: n.type == "Window").walk() if n.type == "Button"]

        def hover(i: int, r=renderer, b=buttons) -> None:
            target = b[i % len(b)]
            r.pointer_motion(target.x + 2, target.y + 2)
            r.render()

        hovered = median_ms(hover, args.rounds)
        w, h = renderer.pixel_size()
        print(f"scale {scale} ({w}x{h} px): first frame (cold caches) {first:.1f} ms | "
              f"changed tree (layout+paint) {changed:.1f} ms | hover repaint {hovered:.2f} ms | "
              f"unchanged tree {unchanged * 1000:.0f} us (equal copy {unchanged_equal * 1000:.0f} us) | "
              f"fps budget ratio changed/16.7ms = {changed / 16.7:.2f}")


if __name__ == "__main__":
    main()
