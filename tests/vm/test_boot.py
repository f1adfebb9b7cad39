"""The boot path, for real: image -> Python stage 1 -> switch_root -> Python PID 1, checked over QMP."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from waiting import wait_for as wait_until

from llmos.host.vm import VirtualMachine

from .guest import services as status
from .pace import scaled


def test_boots_through_python_stages_to_ready(machine: VirtualMachine) -> None:
    phases = [what for _, what, _ in machine.markers()]
    assert any(p.startswith("stage1 start") for p in phases), phases
    assert any(p.startswith("stage1 switch_root") for p in phases), phases
    assert any(p.startswith("pid1 start") for p in phases), phases
    assert "ready" in phases
    assert "shell visible" in phases  # the boot marker `llmos bench boot` measures the full boot by
    # stage 1 read ahead what the compositor needs: the build's list names files this image has
    read = next((p for p in phases if p.startswith("stage1 read ahead")), "")
    assert read and int(read.split()[3]) > 100, phases
    machine.wait_for(r"llmos: apps ready t=", scaled(120))  # the kernel's, once its zygote has loaded
    comm = machine.run(["cat", "/proc/1/comm"]).stdout.strip()
    cmdline = machine.run(["cat", "/proc/1/cmdline"]).stdout
    assert comm.startswith("python") or "python" in cmdline, (comm, cmdline)
    assert "systemd" not in cmdline
    mounts = machine.run(["cat", "/proc/self/mounts"]).stdout
    root = next(line.split() for line in mounts.splitlines() if line.split()[1] == "/")
    assert "ro" in root[3].split(",") and root[2] == "squashfs", root  # the compressed slot (issue 18 1b)
    table = [line.split() for line in mounts.splitlines()]
    assert any(fields[1] == "/var/lib/llmos" and fields[2] == "ext4" for fields in table)
    for path in ("/proc", "/sys", "/dev", "/run", "/tmp", "/sys/fs/cgroup"):
        assert any(line.split()[1] == path for line in mounts.splitlines()), path


def test_the_shell_is_on_the_real_display_before_the_compositor_serves(machine: VirtualMachine) -> None:
    """The first screen (compositor/first_screen.py) goes to the DRM output, its page flip completes,
    and the server then serves on the same output."""
    log = machine.run(["llmos", "logs", "compositor", "-n", "200"], timeout=scaled(30)).stdout
    lines = log.splitlines()
    visible = next((i for i, line in enumerate(lines) if "llmos: shell visible t=" in line), None)
    serving = next((i for i, line in enumerate(lines) if "llmos: compositor output drm" in line), None)
    assert visible is not None and serving is not None and visible < serving, log
    assert "first screen:" not in log  # no failure, and no flip that did not complete


def test_supervisor_lists_its_services(machine: VirtualMachine) -> None:
    services = status(machine)
    assert {"udevd", "hal", "compositor", "kernel", "agent"} <= set(services), services
    assert services["agent"]["pid"] > 1
    text = machine.run(["llmos", "status"], check=False).stdout
    assert "udevd" in text and "agent" in text


def test_the_embedded_model_has_kernels_the_guest_processor_runs(machine: VirtualMachine) -> None:
    """Under TCG the guest is not shown AVX (host/vm.py), so the image's SSE4.2 build must be chosen."""
    text = machine.run(["llmos", "gateway", "providers"]).stdout
    local = next(line for line in text.splitlines() if "local" in line.split()[:2])
    assert ("SSE4.2 kernels" if machine.accel == "tcg" else "kernels") in local, text


def test_python_in_the_image_gets_the_prebuilt_cairo_and_pango_bindings(machine: VirtualMachine) -> None:
    """The image's /usr/lib/llmos/ffi matches its packages (llmos/prebuilt_ffi.py), so whatever draws
    (the compositor, the zygote, app hosts) imports the bindings without parsing C declarations; the
    compositor's own libwayland-server declarations come prebuilt too."""
    code = ("import llmos, cairocffi, pangocairocffi, sys; from llmos.compositor import compat; "
            "print(type(cairocffi.ffi).__module__, type(pangocairocffi.ffi).__module__, "
            "compat.wl_ffi is sys.modules['llmos_ffi_wayland'].ffi, 'pycparser' in sys.modules)")
    assert machine.run(["python3", "-c", code], timeout=scaled(30)).stdout.split() == \
        ["_cffi_backend", "_cffi_backend", "True", "False"]


def test_the_services_dataclasses_come_compiled_from_the_image(machine: VirtualMachine) -> None:
    """The image's /usr/lib/llmos/dataclasses (llmos/dataclass_code.py) holds the code of every class the
    compositor, the kernel and hal define as they import: none compiles a dataclass method at start."""
    code = ("import llmos, dataclasses; import llmos.compositor.server, llmos.compositor.shell.shell, "
            "llmos.kernel.service, llmos.hal.service; hook = dataclasses.exec; "
            "print(type(hook).__name__, sum(map(len, hook.compiled.values())), len(hook.code))")
    kind, compiled, modules = machine.run(["python3", "-c", code], timeout=scaled(60)).stdout.split()
    assert (kind, compiled) == ("CompiledExec", "0")
    assert int(modules) > 50  # the modules whose classes came from the record


def test_the_agent_returns_large_outputs_whole(machine: VirtualMachine) -> None:
    output = machine.run(["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' a"]).stdout
    assert output == "a" * 300000


def test_data_partition_grew_to_fill_the_disk(machine: VirtualMachine) -> None:
    sizes = machine.run(["df", "-B1M", "--output=size", "/var/lib/llmos"]).stdout.split()
    assert int(sizes[-1]) > 4000, sizes  # built at 128 MiB; the test disk is 8 GiB, the partitions 3


def test_a_killed_service_is_restarted_with_backoff(machine: VirtualMachine) -> None:
    before = status(machine)["hal"]
    machine.run(["kill", "-9", str(before["pid"])])

    def restarted() -> dict | None:
        now = status(machine)["hal"]
        new_process = now["pid"] not in (None, 0, before["pid"])
        return now if new_process and now["restarts"] > before["restarts"] else None

    after = wait_until(restarted, scaled(60), "hal to be restarted")
    assert after["restarts"] == before["restarts"] + 1
    logs = machine.run(["llmos", "logs", "hal", "-n", "200"]).stdout + machine.run(["llmos", "logs", "init"],
                                                                                    check=False).stdout
    assert "restart" in logs.lower() or "exited" in logs.lower()


def test_an_orphaned_zombie_is_reaped(machine: VirtualMachine) -> None:
    # The shell exits at once; its background child is re-parented to PID 1 and exits a moment later.
    machine.run(["sh", "-c", "sleep 1 & echo $! > /run/orphan.pid"])
    pid = machine.run(["cat", "/run/orphan.pid"]).stdout.strip()

    def gone() -> bool:
        return machine.run(["test", "-e", f"/proc/{pid}"], check=False).returncode != 0

    wait_until(gone, scaled(30), f"orphan {pid} to be reaped")
    zombies = machine.run(["sh", "-c", "grep -l '^State:.*Z' /proc/[0-9]*/status || true"]).stdout
    assert zombies.strip() == "", zombies


def test_powerdown_is_clean_and_data_survives_a_reboot(boot: Callable[..., VirtualMachine]) -> None:
    first = boot()
    first.run(["sh", "-c", "echo survived-$$ > /var/lib/llmos/persist-test && sync"])
    written = first.run(["cat", "/var/lib/llmos/persist-test"]).stdout
    first.powerdown()
    first.wait_for(r"llmos: data unmounted cleanly", scaled(90))
    first.wait_for(r"llmos: shutdown complete", scaled(60))
    assert first.wait_exit(scaled(60)) == 0
    second = boot(overlay=first.overlay)
    assert second.run(["cat", "/var/lib/llmos/persist-test"]).stdout == written
    # e2fsck in stage 1 found the data file system clean: the shutdown unmounted it properly.
    assert not any("e2fsck" in line for _, line in second.seen)


def test_the_uefi_disk_boots_under_ovmf(boot: Callable[..., VirtualMachine]) -> None:
    machine = boot(wait_ready=False, uefi=True, extra_cmdline="")
    machine.wait_for(r"llmos: stage1 start", scaled(420))
    machine.wait_for(r"llmos: pid1 start", scaled(120))


def test_stage1_explains_a_missing_disk_and_opens_a_shell(boot: Callable[..., VirtualMachine],
                                                          tmp_path: Path) -> None:
    blank = tmp_path / "blank.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(blank), "1G"], check=True)
    machine = boot(wait_ready=False, overlay=blank)
    machine.wait_for(r"EMERGENCY: no LLM OS root partition found", scaled(180))
    machine.wait_for(r"looked for root type 4f68bce3-e8cd-4db1-96e7-fbcaf984b709", scaled(10))
    machine.wait_for(r"emergency shell", scaled(10))
    machine.wait_for(r"BusyBox", scaled(30))
    assert machine.process is not None and machine.process.poll() is None  # no panic: QEMU still runs
