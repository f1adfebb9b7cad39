"""Boot an LLM OS image in QEMU and drive it over QMP: the harness behind `llmos vm`, the VM tests and CI.

One `VirtualMachine` is one QEMU process. It boots directly (-kernel/-initrd, the fast path for CI) or
through UEFI firmware (OVMF, as a USB stick would), on a throw-away qcow2 overlay so the built image is never
modified. The serial console goes to a log file that `wait_for` watches for boot markers; QMP gives
screendumps, input events and power-button presses; an optional virtio-serial agent runs commands inside.
KVM is used where it really works (probed once by booting a kernel: on some hosts /dev/kvm opens but
guests die or hang), TCG elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qemu.qmp import QMPClient

QEMU = "qemu-system-x86_64"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
# Under TCG on a busy host the guest kernel's early check of the timer interrupt can run out of time and
# panic ("IO-APIC + timer doesn't work"); QEMU's timer is known good, so direct boots skip that check.
DIRECT_BOOT_CMDLINE = "no_timer_check"
MARKER = re.compile(r"llmos: (?P<what>.+?) t=(?P<t>\d+\.\d+)")


class VMError(RuntimeError):
    """The VM did not do what was expected; the message ends with the serial console's last lines."""


# Under TCG the guest is not shown AVX: QEMU emulates 256-bit instructions so slowly that llama.cpp's
# SSE4.2 kernels decode faster (docs/PERFORMANCE.md, "End to end in the VM"), and the guest then loads
# them (kernel/gateway/cpu_kernels.py). KVM passes the host's processor through unchanged.
TCG_CPU = "max,-avx,-avx2,-fma,-f16c"


@dataclass(frozen=True)
class BuiltImage:
    """The three artifacts of one build: the disk, and kernel + initramfs for direct boot."""

    disk: Path
    kernel: Path
    initrd: Path
    cmdline: str

    @classmethod
    def find(cls, variant: str = "qemu", directory: Path | None = None) -> BuiltImage:
        default = Path(__file__).resolve().parent.parent / "build" / "images"  # `llmos image build` output
        directory = directory or Path(os.environ.get("LLMOS_IMAGE_DIR", default)) / variant
        stem = directory / f"llmos-{variant}"
        parts = [stem.with_suffix(suffix) for suffix in (".raw", ".vmlinuz", ".initrd", ".cmdline")]
        missing = [str(p) for p in parts if not p.exists()]
        if missing:
            raise FileNotFoundError(f"image not built: missing {', '.join(missing)}; "
                                    f"run `llmos image build --variant {variant}`")
        disk, kernel, initrd, cmdline = parts
        return cls(disk, kernel, initrd, cmdline.read_text().strip())


KVM_PROBE_S = 12.0  # a Linux kernel under working KVM prints its banner within a second or two


def _probe_kernel() -> Path | None:
    """A Linux kernel to boot for the KVM probe: the built image's, else the host's own."""
    built = sorted((Path(__file__).resolve().parent.parent / "build" / "images").glob("*/llmos-*.vmlinuz"))
    host = sorted(Path("/boot").glob("vmlinuz-*"))
    found = [k for k in (*built, *host) if os.access(k, os.R_OK)]
    return found[0] if found else None


@functools.cache
def kvm_works(kernel: Path | None = None) -> bool:
    """Whether KVM really runs a Linux guest here, probed once per kernel. On some hosts /dev/kvm opens but
    QEMU dies at once ("KVM internal error"), and on others firmware runs but a Linux kernel hangs right
    after its real-mode setup, printing nothing more (seen here: "Probing EDD ... ok", then silence, so
    every VM test timed out). So the probe boots `kernel` (the image's, or any kernel found) with an early
    serial console and wants its "Linux version" banner; with no kernel to boot it says no (TCG is slow,
    a hang is worse). LLMOS_ACCEL=kvm|tcg overrides the probe."""
    if os.environ.get("LLMOS_ACCEL") in ("tcg", "kvm"):
        return os.environ["LLMOS_ACCEL"] == "kvm"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK) or shutil.which(QEMU) is None:
        return False
    kernel = kernel or _probe_kernel()
    if kernel is None:
        return False
    wanted = b"Linux version"
    with tempfile.TemporaryDirectory(prefix="llmos-kvm-") as scratch:
        out = Path(scratch) / "serial.txt"
        probe = subprocess.Popen([QEMU, "-accel", "kvm", "-cpu", "host", "-machine", "q35", "-nodefaults",
                                  "-display", "none", "-no-reboot", "-m", "256", "-serial", f"file:{out}",
                                  "-kernel", str(kernel), "-append",
                                  "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1 loglevel=7"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + KVM_PROBE_S
        try:
            while time.monotonic() < deadline:
                if out.exists() and wanted in out.read_bytes():
                    return True
                if probe.poll() is not None:  # died (an internal error), or the guest ended without it
                    return out.exists() and wanted in out.read_bytes()
                time.sleep(0.1)
            return False
        finally:
            if probe.poll() is None:
                probe.kill()
            probe.wait()


@dataclass
class VirtualMachine:
    image: BuiltImage
    uefi: bool = False
    memory_mb: int = 2048
    cpus: int = 2
    disk_size: str = "8G"  # the image is 3 GiB (two root slots); the data partition grows into the rest
    extra_cmdline: str = "llmos.agent=1"
    extra_args: list[str] = field(default_factory=list)
    display: str = "none"  # "none" (headless, VNC off), "vnc" (localhost), "gtk"
    serial_stdio: bool = False
    workdir: Path | None = None
    overlay: Path | None = None  # reuse a disk overlay (e.g. across a reboot test)

    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    started_at: float = field(default=0.0, init=False)
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop, init=False)
    _qmp: QMPClient | None = field(default=None, init=False)
    _agent: socket.socket | None = field(default=None, init=False)
    _agent_buffer: bytes = field(default=b"", init=False)
    _agent_ids: int = field(default=0, init=False)
    _tempdir: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False)
    seen: list[tuple[float, str]] = field(default_factory=list, init=False)
    _log_offset: int = field(default=0, init=False)

    # ---- lifecycle -----------------------------------------------------------------------------
    def __post_init__(self) -> None:
        if self.workdir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="llmos-vm-")
            self.workdir = Path(self._tempdir.name)
        self.workdir.mkdir(parents=True, exist_ok=True)

    @property
    def directory(self) -> Path:
        """`workdir`, or the temporary directory made in its place."""
        assert self.workdir is not None  # __post_init__ always sets it
        return self.workdir

    @property
    def serial_log(self) -> Path:
        return self.directory / "serial.log"

    @property
    def accel(self) -> str:
        return "kvm" if kvm_works(self.image.kernel) else "tcg"

    def command(self) -> list[str]:
        if self.overlay is None:
            self.overlay = self.directory / "disk.qcow2"
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                            str(self.image.disk.resolve()), str(self.overlay), self.disk_size], check=True)
        kvm = self.accel == "kvm"
        argv = [QEMU, "-machine", "q35", "-accel", self.accel, "-cpu", "host" if kvm else TCG_CPU,
                "-m", str(self.memory_mb), "-smp", str(self.cpus), "-no-reboot",
                "-qmp", f"unix:{self.directory / 'qmp.sock'},server=on,wait=off",
                "-drive", f"if=none,id=disk,file={self.overlay},format=qcow2,cache=unsafe",
                "-device", "virtio-blk-pci,drive=disk" + (",bootindex=0" if self.uefi else ""),
                # romfile= drops the NIC's PXE option ROM, so UEFI firmware does not try network boot first
                "-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0,romfile=",
                "-vga", "std",
                "-device", "qemu-xhci", "-device", "usb-tablet",
                "-device", "virtio-rng-pci",
                "-device", "virtio-serial-pci",
                "-chardev", f"socket,id=agent,path={self.directory / 'agent.sock'},server=on,wait=off",
                "-device", "virtserialport,chardev=agent,name=org.llmos.agent"]
        if self.serial_stdio:
            argv += ["-serial", "mon:stdio"]
        else:
            argv += ["-serial", f"file:{self.serial_log}"]
        argv += {"none": ["-display", "none"], "vnc": ["-display", "none", "-vnc", "127.0.0.1:0"],
                 "gtk": ["-display", "gtk"]}[self.display]
        if self.uefi:
            vars_copy = self.directory / "OVMF_VARS.fd"
            if not vars_copy.exists():
                shutil.copyfile(OVMF_VARS, vars_copy)
            argv += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                     "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}"]
        else:
            argv += ["-kernel", str(self.image.kernel), "-initrd", str(self.image.initrd),
                     "-append", f"{self.image.cmdline} {DIRECT_BOOT_CMDLINE} {self.extra_cmdline}".strip()]
        return argv + self.extra_args

    def start(self) -> VirtualMachine:
        argv = self.command()
        self.serial_log.write_bytes(b"")
        self._log_offset = 0
        self.seen = []
        (self.directory / "qemu.argv").write_text(json.dumps(argv))
        self.started_at = time.monotonic()
        with open(self.directory / "qemu.err", "wb") as errors:
            self.process = subprocess.Popen(argv, stdin=None if self.serial_stdio else subprocess.DEVNULL,
                                            stderr=None if self.serial_stdio else errors)
        try:
            self._run(self._connect_qmp(self.process))
        except BaseException:
            self.stop()  # never leave a QEMU running behind a failed start
            raise
        return self

    def stop(self) -> None:
        """Kill QEMU (if still running) and close the channels."""
        if self._agent:
            self._agent.close()
            self._agent = None
            self._agent_buffer = b""
        if self._qmp is not None:
            with contextlib.suppress(Exception):
                self._run(self._qmp.disconnect())
            self._qmp = None
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        self.stop()
        self._loop.close()
        if self._tempdir:
            self._tempdir.cleanup()

    def __enter__(self) -> VirtualMachine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_exit(self, timeout: float | None) -> int:
        """QEMU's exit status; None waits for as long as it runs (an interactive `llmos vm`)."""
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise VMError(f"QEMU still running after {timeout:.0f} s{self.tail()}") from None

    # ---- serial console --------------------------------------------------------------------------
    def _read_serial(self) -> None:
        with open(self.serial_log, "rb") as log:
            log.seek(self._log_offset)
            chunk = log.read()
        complete = chunk.rfind(b"\n") + 1
        if complete:
            now = time.monotonic() - self.started_at
            for line in chunk[:complete].decode(errors="replace").splitlines():
                self.seen.append((now, line.rstrip("\r")))
            self._log_offset += complete

    def wait_for(self, pattern: str, timeout: float, since: int = 0) -> re.Match[str]:
        """Wait until a serial line (at index >= since) matches; fail early if QEMU exits."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        checked = since
        while True:
            self._read_serial()
            for _, line in self.seen[checked:]:
                if found := regex.search(line):
                    return found
            checked = max(checked, len(self.seen))
            if self.process and self.process.poll() is not None:
                self._read_serial()
                raise VMError(f"QEMU exited ({self.process.returncode}) before /{pattern}/{self.tail()}")
            if time.monotonic() > deadline:
                raise VMError(f"no /{pattern}/ on the serial console within {timeout:.0f} s{self.tail()}")
            time.sleep(0.05)

    def markers(self) -> list[tuple[float, str, float]]:
        """(host seconds since QEMU start, marker text, guest seconds since kernel start)."""
        self._read_serial()
        return [(host, m["what"], float(m["t"])) for host, line in self.seen if (m := MARKER.search(line))]

    def tail(self, lines: int = 30) -> str:
        self._read_serial()
        text = "\n".join(line for _, line in self.seen[-lines:])
        err = self.directory / "qemu.err"
        if err.exists() and err.stat().st_size:
            text += "\n[qemu stderr] " + err.read_text(errors="replace")[-2000:]
        return f"\n--- serial console (last {lines} lines) ---\n{text}"

    # ---- QMP -------------------------------------------------------------------------------------
    def _run(self, coroutine: Any) -> Any:
        return self._loop.run_until_complete(coroutine)

    async def _connect_qmp(self, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        path = str(self.directory / "qmp.sock")
        while True:
            client = QMPClient("llmos-vm")
            try:
                await client.connect(path)
                self._qmp = client
                return
            except Exception as error:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise VMError(f"cannot reach QMP at {path}: {error}{self.tail()}") from error
                await asyncio.sleep(0.05)

    def qmp(self, command: str, **arguments: Any) -> Any:
        assert self._qmp is not None, "VM not started"
        return self._run(self._qmp.execute(command, arguments or None))

    def screendump(self, path: Path) -> Path:
        self.qmp("screendump", filename=str(path), format="png")
        return path

    def powerdown(self) -> None:
        """Press the ACPI power button."""
        self.qmp("system_powerdown")

    def send_keys(self, *qcodes: str, hold_ms: int = 30) -> None:
        """Press the keys together (a chord such as ctrl+alt+delete), then release them."""
        keys = [{"type": "qcode", "data": code} for code in qcodes]
        self.qmp("send-key", keys=keys, **{"hold-time": hold_ms})

    def type_text(self, text: str, delay: float = 0.08) -> None:
        """Type like a person would: one key at a time, slowly enough for a TCG guest not to drop any."""
        for char in text:
            qcodes = _QCODES.get(char)
            if qcodes is None:
                raise ValueError(f"cannot type {char!r}")
            self.send_keys(*qcodes)
            time.sleep(delay)  # pacing for the guest's input queue, not a readiness wait

    def input_events(self, events: list[dict[str, Any]]) -> None:
        self.qmp("input-send-event", events=events)

    def pointer_abs(self, x: int, y: int) -> None:
        """Move the absolute pointer; QEMU's axis range is 0..32767 for the whole screen."""
        self.input_events([{"type": "abs", "data": {"axis": "x", "value": x}},
                           {"type": "abs", "data": {"axis": "y", "value": y}}])

    def click(self, button: str = "left") -> None:
        for down in (True, False):
            self.input_events([{"type": "btn", "data": {"down": down, "button": button}}])

    # ---- guest agent -----------------------------------------------------------------------------
    def _agent_connect(self) -> socket.socket:
        if self._agent is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(self.directory / "agent.sock"))
            self._agent = sock
        return self._agent

    def _agent_request(self, request: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        sock = self._agent_connect()
        sock.sendall(json.dumps(request).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._agent_buffer:
                line, self._agent_buffer = self._agent_buffer.split(b"\n", 1)
                with contextlib.suppress(ValueError):
                    answer = json.loads(line)
                    if isinstance(answer, dict) and answer.get("id") == request["id"]:
                        return answer
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            sock.settimeout(min(remaining, 1.0))
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise VMError("the agent channel closed")
            self._agent_buffer += data

    def wait_agent(self, timeout: float) -> None:
        """Ping until the guest agent answers (it starts late in boot and may miss early bytes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._agent_ids += 1
            if self._agent_request({"id": self._agent_ids, "argv": ["true"]}, 2.0) is not None:
                return
            if self.process and self.process.poll() is not None:
                break
        raise VMError(f"the guest agent did not answer within {timeout:.0f} s{self.tail()}")

    def responsive(self, timeout: float) -> bool:
        """QEMU still runs and the guest agent answers a ping within `timeout`: the VM is still usable."""
        if self.process is None or self.process.poll() is not None:
            return False
        self._agent_ids += 1
        try:
            return self._agent_request({"id": self._agent_ids, "argv": ["true"]}, timeout) is not None
        except (OSError, VMError):
            return False

    def run(self, argv: list[str], timeout: float = 60.0, check: bool = True,
            input: str = "") -> subprocess.CompletedProcess[str]:
        """Run a command in the guest; like subprocess.run with capture_output=True, text=True."""
        self._agent_ids += 1
        answer = self._agent_request({"id": self._agent_ids, "argv": argv, "timeout": timeout,
                                      "input": input}, timeout + 10)
        if answer is None:
            raise VMError(f"no answer from the guest agent for {argv} within {timeout + 10:.0f} s")
        result = subprocess.CompletedProcess(argv, answer["rc"], answer["stdout"], answer["stderr"])
        if check and result.returncode != 0:
            raise VMError(f"{argv} exited {result.returncode}: {result.stderr.strip()}")
        return result


def _build_qcodes() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {chr(c): (chr(c),) for c in range(ord("a"), ord("z") + 1)}
    table.update({chr(c).upper(): ("shift", chr(c)) for c in range(ord("a"), ord("z") + 1)})
    table.update({str(d): (str(d),) for d in range(10)})
    table.update({" ": ("spc",), "\n": ("ret",), "-": ("minus",), "=": ("equal",), ".": ("dot",),
                  ",": ("comma",), "/": ("slash",), ";": ("semicolon",), "'": ("apostrophe",),
                  ":": ("shift", "semicolon"), "?": ("shift", "slash"), "!": ("shift", "1"),
                  "_": ("shift", "minus"), "\t": ("tab",)})
    return table


_QCODES = _build_qcodes()
