"""Host-side `llmos` commands: image build, vm, flash and bench boot."""

from __future__ import annotations

import argparse
import os
import sys


def _build(args: argparse.Namespace) -> int:
    from llmos.host import image

    version = args.image_version or image.DEFAULT_IMAGE_VERSION
    try:
        if args.if_changed:
            image.ensure_built(args.variant, kiosk_app=args.kiosk_app, image_version=version)
        else:
            image.build(args.variant, kiosk_app=args.kiosk_app, image_version=version)
    except image.BuildError as error:
        print(f"llmos image build: {error}", file=sys.stderr)
        return 1
    return 0


def _vm(args: argparse.Namespace) -> int:
    from llmos.host import image
    from llmos.host.vm import BuiltImage, VirtualMachine

    if args.build:
        try:
            image.ensure_built(args.variant)
        except image.BuildError as error:
            print(f"llmos vm: {error}", file=sys.stderr)
            return 1
    try:
        built = BuiltImage.find(args.variant)
    except FileNotFoundError as error:
        print(f"llmos vm: {error}", file=sys.stderr)
        return 1
    graphical = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and not args.headless
    machine = VirtualMachine(built, uefi=args.uefi, memory_mb=args.memory, extra_cmdline="",
                             display="gtk" if graphical else "vnc", serial_stdio=True)
    if not graphical:
        print("llmos vm: no display; serial console here, screen on VNC at 127.0.0.1:5900 "
              "(quit with ctrl-a x)", file=sys.stderr)
    print(f"llmos vm: {machine.accel.upper()} {'UEFI' if args.uefi else 'direct kernel'} boot of "
          f"{built.disk}", file=sys.stderr)
    if machine.accel == "tcg":
        print("llmos vm: no usable KVM, so QEMU emulates the CPU: boot takes about a minute, and the "
              "embedded model a few minutes per new app (docs/PERFORMANCE.md). An inference server on "
              "the host is far faster: docs/fleet.md", file=sys.stderr)
    machine.start()
    try:
        return machine.wait_exit(timeout=None)
    finally:
        machine.close()


def _flash(args: argparse.Namespace) -> int:
    from llmos.host import flash

    return flash.run(args)


def _bench_boot(args: argparse.Namespace) -> int:
    from llmos.host import bench

    return bench.boot(args.variant, runs=args.runs, uefi=args.uefi)


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    image_parser = subparsers.add_parser("image", help="build the OS image")
    image_commands = image_parser.add_subparsers(dest="image_command", required=True)
    build = image_commands.add_parser("build", help="build a disk image with mkosi (shows progress)")
    build.add_argument("--variant", default="qemu", choices=["qemu", "usb", "kiosk"])
    build.add_argument("--kiosk-app", help="for --variant kiosk: the app's hash (sha256:...)")
    build.add_argument("--image-version",
                       help="IMAGE_VERSION in os-release and the factory boot entry: a bundle made from "
                            "this image carries it (default: image.DEFAULT_IMAGE_VERSION, 1)")
    build.add_argument("--if-changed", action="store_true",
                       help="reuse the last image if it was built from exactly these inputs (says so)")
    build.set_defaults(run=_build)
    from llmos.update import cli as update_cli  # keygen, bundle: signed update bundles

    update_cli.add_image_commands(image_commands)

    vm = subparsers.add_parser("vm", help="boot the image in QEMU (a window when a display exists, "
                                          "else the serial console here and VNC on localhost)")
    vm.add_argument("--variant", default="qemu", choices=["qemu", "usb", "kiosk"])
    vm.add_argument("--uefi", action="store_true", help="boot the disk through OVMF, like a USB stick")
    vm.add_argument("--memory", type=int, default=2048, help="MiB of guest memory")
    vm.add_argument("--headless", action="store_true", help="no window even if a display exists")
    vm.add_argument("--no-build", dest="build", action="store_false", help="do not (re)build first")
    vm.set_defaults(run=_vm)

    flash_parser = subparsers.add_parser("flash", help="write the disk image to a USB stick, then verify")
    try:
        from llmos.host import flash
    except ImportError as error:
        reason = str(error)
        flash_parser.set_defaults(run=lambda _args: print(f"llmos flash: unavailable: {reason}") or 1)
    else:
        flash.add_arguments(flash_parser)
        flash_parser.set_defaults(run=_flash)

    bench = subparsers.add_parser("bench", help="benchmarks")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True)
    boot = bench_commands.add_parser("boot", help="boot phase times from the serial console's timestamps")
    boot.add_argument("--variant", default="qemu")
    boot.add_argument("--runs", type=int, default=3)
    boot.add_argument("--uefi", action="store_true")
    boot.set_defaults(run=_bench_boot)

