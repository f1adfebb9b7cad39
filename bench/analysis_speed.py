"""Static analysis speed: milliseconds per 1,000 lines of app code (parse + all rules + capability check).

Input: the starter apps concatenated until the text is about 5,000 lines. Prints the median of runs."""

from __future__ import annotations

import statistics
import time

from llmos.kernel.analysis import analyse
from llmos.kernel.starter import STARTERS


def main() -> None:
    chunks, lines = [], 0
    while lines < 5000:
        for starter in STARTERS:
            chunks.append(starter.code)
            lines += starter.code.count("\n")
    code = "\n".join(chunks)
    lines = code.count("\n") + 1
    scopes = sorted({s for starter in STARTERS for s in starter.capabilities})
    analyse(code, scopes)  # warm up: parser construction
    runs = []
    for _ in range(15):
        started = time.perf_counter()
        report = analyse(code, scopes)
        runs.append(time.perf_counter() - started)
    assert report.ok, report.diagnostics()
    per_k = statistics.median(runs) * 1000 / (lines / 1000)
    print(f"analysis: {lines} lines, median {statistics.median(runs) * 1000:.1f} ms, "
          f"{per_k:.2f} ms per 1,000 lines (min {min(runs) * 1000 / (lines / 1000):.2f})")


if __name__ == "__main__":
    main()
