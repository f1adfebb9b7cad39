"""Time from exec of the supervisor to its `llmos: ready` marker, with a table shaped like the
default one (udevd -> coldplug, growfs, hal -> compositor -> kernel) made of trivial services.

Prints the median and best of N runs, split into interpreter start (exec -> `pid1 start`) and
supervision (`pid1 start` -> `ready`), next to a bare `python3 -c pass` as the baseline."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = int(os.environ.get("RUNS", "5"))


def listener(name: str) -> list[str]:
    code = ("import os, socket, time\n"
            f"s = socket.socket(socket.AF_UNIX); s.bind(os.environ['LLMOS_RUN_DIR'] + '/{name}.sock')\n"
            "s.listen(); time.sleep(1000)\n")
    return ["python3", "-c", code]


def table(tmp: Path) -> list[dict]:
    control = tmp / "udev-control"
    return [
        {"name": "udevd", "argv": ["python3", "-c", f"open('{control}', 'w'); import time; time.sleep(1000)"],
         "ready": f"path:{control}"},
        {"name": "udev-coldplug", "argv": ["/bin/true"], "requires": ["udevd"], "oneshot": True},
        {"name": "growfs", "argv": ["python3", "-c", "pass"], "oneshot": True},
        {"name": "hal", "argv": listener("hal"), "ready": "socket:hal"},
        {"name": "compositor", "argv": listener("compositor"), "ready": "socket:compositor",
         "requires": ["hal"]},
        {"name": "kernel", "argv": listener("kernel"), "ready": "socket:kernel", "requires": ["compositor"]},
        {"name": "agent", "argv": ["/bin/true"], "condition": "cmdline:llmos.agent=1"},
    ]


def boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def marker(text: str, line: str) -> float | None:
    if line.startswith(f"llmos: {text} t="):
        return float(line.rsplit("t=", 1)[1])
    return None


def one_run() -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "services.json").write_text(json.dumps({"services": table(tmp)}))
        (tmp / "cmdline").write_text("quiet\n")
        env = {**os.environ, "LLMOS_RUN_DIR": str(tmp / "run"), "LLMOS_STATE_DIR": str(tmp / "state"),
               "LLMOS_CONFIG": str(tmp / "none.toml"), "LLMOS_SERVICES": str(tmp / "services.json"),
               "LLMOS_CMDLINE_FILE": str(tmp / "cmdline"), "LLMOS_CGROUP_ROOT": str(tmp / "nocg")}
        began = boottime()
        proc = subprocess.Popen([sys.executable, "-m", "llmos.init"], env=env, stdout=subprocess.PIPE,
                                text=True)
        start = ready = None
        assert proc.stdout is not None
        for line in proc.stdout:
            start = start or marker("pid1 start", line.strip())
            ready = marker("ready", line.strip())
            if ready:
                break
        proc.terminate()
        proc.communicate(timeout=30)
        assert start and ready, "no markers"
        return ready - began, start - began, ready - start


def bare_python() -> float:
    began = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.monotonic() - began


def main() -> None:
    runs = [one_run() for _ in range(RUNS)]
    base = statistics.median(bare_python() for _ in range(RUNS))
    total = [r[0] for r in runs]
    print(f"init_startup: {RUNS} runs, 7-entry default-shaped table (6 started, 1 disabled by condition)")
    print(f"  exec -> ready        median {statistics.median(total) * 1000:7.1f} ms   "
          f"best {min(total) * 1000:7.1f} ms")
    print(f"  exec -> pid1 start   median {statistics.median(r[1] for r in runs) * 1000:7.1f} ms")
    print(f"  pid1 start -> ready  median {statistics.median(r[2] for r in runs) * 1000:7.1f} ms")
    print(f"  baseline python3 -c pass: {base * 1000:.1f} ms; "
          f"exec -> ready = {statistics.median(total) / base:.1f}x one bare interpreter start")


if __name__ == "__main__":
    main()
