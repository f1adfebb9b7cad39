"""Static analysis speed: milliseconds per 1,000 lines of app code (parse + all rules + capability check).

Input: the starter apps concatenated until the text is about 5,000 lines. Each round times, in turn, the
whole analysis (with the shared-tree cache emptied first, so it parses), tree-sitter's parse alone, and
the rules alone on an already parsed tree (what the analysis costs when the gateway has parsed the same
code). Prints medians and minimums of CPU time, and the analysis as a ratio of the parse measured in the
same run: the parse is the part of the figure no rule can make faster, and the ratio holds across
machines and load where the milliseconds do not (issue 17's target: under 5 ms per 1,000 lines)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial

from llmos.kernel.analysis import PayloadLimits, analyse
from llmos.kernel.analysis.rules import check_tree
from llmos.kernel.analysis.tsparse import forget_trees, parse_afresh
from llmos.kernel.caps.manifest import Manifest
from llmos.kernel.starter import STARTERS

ROUNDS = 21
TARGET_MS = 5.0  # per 1,000 lines


def _cpu(action: Callable[[], object]) -> float:
    started = time.process_time()
    action()
    return time.process_time() - started


def main() -> None:
    chunks, lines = [], 0
    while lines < 5000:
        for starter in STARTERS:
            chunks.append(starter.code)
            lines += starter.code.count("\n")
    code = "\n".join(chunks)
    src = code.encode()
    lines = code.count("\n") + 1
    scopes = sorted({s for starter in STARTERS for s in starter.capabilities})
    manifest = Manifest.parse(scopes)
    report = analyse(code, scopes)  # warm up: parser construction, kind tables
    assert report.ok, report.diagnostics()
    runs: dict[str, list[float]] = {"analysis": [], "parse": [], "rules": []}
    for _ in range(ROUNDS):
        forget_trees()
        runs["analysis"].append(_cpu(lambda: analyse(code, scopes)))
        runs["parse"].append(_cpu(lambda: parse_afresh(src)))
        root = parse_afresh(src).root_node
        runs["rules"].append(_cpu(partial(check_tree, root, src, manifest, PayloadLimits())))
    per_k = {name: statistics.median(times) * 1000 / (lines / 1000) for name, times in runs.items()}
    low = {name: min(times) * 1000 / (lines / 1000) for name, times in runs.items()}
    print(f"analysis: {lines} lines, {ROUNDS} rounds, CPU ms per 1,000 lines (median, min):")
    for name, what in (("analysis", "parse + rules + capabilities"), ("parse", "tree-sitter's parse alone"),
                       ("rules", "rules on a parsed tree (the gateway's tree shared)")):
        print(f"  {name:9s} {per_k[name]:6.2f} {low[name]:6.2f}  {what}")
    ratio = per_k["analysis"] / per_k["parse"]
    print(f"  analysis / parse in this run: {ratio:.2f}x; target under {TARGET_MS:.0f} ms: "
          f"{'met' if per_k['analysis'] < TARGET_MS else 'not met'} (the parse alone takes "
          f"{per_k['parse'] / TARGET_MS:.0%} of that budget)")


if __name__ == "__main__":
    main()
