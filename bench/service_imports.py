"""What each service's imports cost in a fresh process, with the image's record of compiled dataclass
methods (llmos/dataclass_code.py) and without it, alternated in one run.

The code is laid out as in the image (host/image.py's code_tree), and the record and the prebuilt Cairo
and Pango bindings are written from it as the image build writes them. Each round starts one interpreter
per service and case. Prints the median and best wall time of the imports, and the ratio with the
record to without it (the baseline).

    python3 bench/service_imports.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from llmos.host import image

# What each service imports before it serves (its module's own imports, and the compositor's shell).
SERVICES = {
    "compositor": "import llmos.compositor.__main__, llmos.compositor.server, llmos.compositor.shell.shell",
    "kernel": "import llmos.kernel.__main__, llmos.kernel.service",
    "hal": "import llmos.hal.__main__, llmos.hal.service",
}
TIMED = "import time; t = time.perf_counter(); {imports}; print(time.perf_counter() - t)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmos-bench-") as tmp:
        code = image.code_tree(Path(tmp), lambda line: None) / "usr/lib/llmos/python"
        record, ffi = Path(tmp) / "code.marshal", Path(tmp) / "ffi"
        # the image's prebuilt Cairo and Pango bindings too, so the compositor imports as it does there
        env = {**os.environ, "PYTHONPATH": str(code), "LLMOS_FFI_DIR": str(ffi)}
        for module, target in (("dataclass_code", record), ("prebuilt_ffi", ffi)):
            subprocess.run([sys.executable, "-c", f"import sys; from llmos.{module} import main; "
                            "sys.exit(main(sys.argv[1:]))", str(target)], check=True, cwd=code, env=env,
                           stdout=subprocess.DEVNULL)
        cases = {"without": str(Path(tmp) / "none"), "with": str(record)}
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for service, imports in SERVICES.items():
                for case, path in cases.items():
                    done = subprocess.run([sys.executable, "-c", TIMED.format(imports=imports)], cwd=code,
                                          env={**env, "LLMOS_DATACLASS_CODE": path}, capture_output=True,
                                          text=True, check=True)
                    times.setdefault((service, case), []).append(float(done.stdout.split()[-1]))
    print(f"service imports in a fresh process, {args.rounds} rounds, ms (median, best):")
    for service in SERVICES:
        without, with_record = times[(service, "without")], times[(service, "with")]
        ratio = statistics.median(with_record) / statistics.median(without)
        print(f"  {service:10s} without {statistics.median(without) * 1e3:6.1f} {min(without) * 1e3:6.1f}   "
              f"with the record {statistics.median(with_record) * 1e3:6.1f} {min(with_record) * 1e3:6.1f}   "
              f"{ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
