"""Commands: `llmos image keygen|bundle` on the build host, `llmos update apply|check|status` in the
image. Only argparse at import time: the `llmos` command imports this to list its words."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmos.update.system import Layout

EXIT_REFUSED = 2


def _keygen(args: argparse.Namespace) -> int:
    from llmos.update import keys

    try:
        pair = keys.generate(args.out, overwrite=args.force)
    except (keys.KeyFileError, OSError) as error:
        print(f"llmos image keygen: {error}", file=sys.stderr)
        return 1
    print(f"private key: {pair.private_path} (mode 0600; keep it off the image and out of git)\n"
          f"public key:  {pair.public_path} (the image carries this one)\n"
          f"key id:      {pair.key_id}")
    return 0


def _bundle(args: argparse.Namespace) -> int:
    from llmos.progress import ConsoleProgress
    from llmos.update import bundle, keys

    extracted = args.output.with_name(f".{args.output.name}.rootfs")  # slot a's root, only while bundling
    objects_dir = args.output.with_name(f".{args.output.name}.store")  # its model store, the same
    try:
        private = keys.load_private(args.key)
        root, kernel, initrd = args.root, args.kernel, args.initrd
        objects = _store_objects(args.store) if args.store else []
        if args.from_image:  # a built disk image: its slot-a squashfs, its models, its kernel and initrd
            from llmos.host.diskimage import extract_root, extract_store

            disk = args.from_image
            root = root or extract_root(disk, extracted)
            objects = objects or extract_store(disk, objects_dir)
            kernel, initrd = kernel or disk.with_suffix(".vmlinuz"), initrd or disk.with_suffix(".initrd")
        if root is None or kernel is None or initrd is None:
            print("llmos image bundle: give --from-image, or --root, --kernel and --initrd", file=sys.stderr)
            return 2
        os_version = _bundle_version(root, args.version)
        manifest = bundle.make_bundle(args.output, private, os_version=os_version, arch=args.arch,
                                      rootfs=root, kernel=kernel, initrd=initrd, objects=objects,
                                      progress=ConsoleProgress())
    except (keys.KeyFileError, ValueError, OSError, RuntimeError) as error:  # RuntimeError: DiskImageError
        print(f"llmos image bundle: {error}", file=sys.stderr)
        return 1
    finally:
        extracted.unlink(missing_ok=True)
        shutil.rmtree(objects_dir, ignore_errors=True)
    sizes = ", ".join(f"{p.name} {p.size} bytes" for p in manifest.parts if p not in manifest.objects)
    if manifest.objects:
        sizes += f", {len(manifest.objects)} model files {sum(p.size for p in manifest.objects)} bytes"
    print(f"{args.output}: version {manifest.os_version} for {manifest.arch}, signed by key "
          f"{manifest.key_id}: {sizes}")
    return 0


def _store_objects(directory: Path) -> list[Path]:
    """A model store directory's objects: its files named by their sha256."""
    from llmos.update import store

    if not directory.is_dir():
        raise ValueError(f"--store {directory}: not a directory")
    objects = sorted(p for p in directory.iterdir() if store.SHA256_RE.fullmatch(p.name) and p.is_file())
    if not objects:
        raise ValueError(f"--store {directory}: no files named by a sha256 in it")
    return objects


def _bundle_version(root: Path, asked: str | None) -> str:
    """The bundle's version is the root's own IMAGE_VERSION: a bundle that says 2 over a root that
    says 1 would boot and report 1, and the next check would install 2 again."""
    from llmos.host.diskimage import RootPartition, image_version

    stamped = image_version(RootPartition(root, 0, root.stat().st_size))
    if asked is None and stamped is None:
        raise ValueError(f"{root}: its os-release has no IMAGE_VERSION; give --version")
    if asked is not None and stamped is not None and asked != stamped:
        raise ValueError(f"{root}: its os-release says IMAGE_VERSION={stamped}, not {asked}; build the image "
                         f"with `llmos image build --image-version {asked}`")
    return asked or stamped or ""


def _layout(args: argparse.Namespace) -> Layout:
    from llmos.init.esp import partitions
    from llmos.update import system

    words = system.cmdline()
    esp = args.esp or system.esp()
    booted = os.geteuid() == 0 and system.active_slot(words) is not None  # booted from a slot: LLM OS

    def log(line: str) -> None:
        print(f"llmos update: {line}", file=sys.stderr)

    store = args.store
    if store is None and booted and getattr(args, "writes", False):
        store = system.writable_store(log)
    if args.esp is None and booted:
        from llmos.init.esp import mount_esp

        esp = mount_esp(log, esp) or esp
    active = args.active or system.active_slot(words) or "a"
    devices = {"a": args.slot_a or system.slot_device("a"), "b": args.slot_b or system.slot_device("b")}
    given = {"a": args.root_a, "b": args.root_b}
    table = None if all(given.values()) else partitions()  # every disk's GPT, read once for both slots
    roots = {slot: given[slot] or system.root_argument(slot, devices[slot], table) for slot in given}
    return system.Layout(
        esp=esp, slot_devices=tuple(devices.items()), slot_roots=tuple(roots.items()), active=active,
        state_path=args.state or system.state_path(), public_key=args.key or system.public_key(),
        arch=args.arch or system.running_arch(), max_bytes=args.max_bytes,
        running_version=args.running_version or system.os_release_version(),
        base_options=args.options if args.options is not None else system.base_options(esp, active, words),
        booted_entry=args.booted_entry, store=store, models=args.models)


def default_layout() -> Layout:
    """The running image's layout, every option at its default (the `update` service's)."""
    parser = argparse.ArgumentParser()
    _layout_arguments(parser)
    parser.set_defaults(writes=True)  # the service applies what it finds
    return _layout(parser.parse_args([]))


def _apply(args: argparse.Namespace) -> int:
    from llmos.progress import ConsoleProgress
    from llmos.update import apply, download, keys, slots, store
    from llmos.update.bundle import BundleRefused

    layout = _layout(args)
    progress = ConsoleProgress()
    fetched: Path | None = None
    try:
        if download.is_url(args.source):
            fetched = download.download(args.source, layout.work_dir, max_bytes=layout.max_bytes,
                                        progress=progress, check_head=apply.head_check(layout, args.force))
            source = fetched
        else:
            source = Path(args.source)
        result = apply.apply(source, layout, force=args.force, tries=args.tries, progress=progress)
    except (BundleRefused, keys.KeyFileError, slots.SlotRefused, store.StoreRefused) as error:
        print(f"llmos update: {error}\nNothing was written; slot {layout.active} keeps running.",
              file=sys.stderr)
        return EXIT_REFUSED
    except (apply.ApplyError, slots.SlotWriteError, download.DownloadError, OSError) as error:
        print(f"llmos update: {error}", file=sys.stderr)
        return 1
    finally:
        if fetched is not None:
            fetched.unlink(missing_ok=True)
    print(f"Installed {result.manifest.os_version} on slot {result.slot} ({result.device}), verified by "
          f"reading it back. Boot entry {result.entry.path.name}: the next boot starts it, with "
          f"{result.entry.name.tries_left} tries before falling back to slot {layout.active}.")
    return 0


def _check(args: argparse.Namespace) -> int:
    """One scheduled check now: what the `update` service does every period, without the reboot."""
    from llmos import config
    from llmos.progress import ConsoleProgress
    from llmos.update import schedule

    settings = config.load().settings.update
    try:
        source = schedule.source_of(args.url if args.url is not None else settings.url,
                                    args.path if args.path is not None else settings.path,
                                    args.ref if args.ref is not None else settings.ref)
    except ValueError as error:
        print(f"llmos update check: {error}" if settings.url or args.url else
              "llmos update check: no source: set [update] url in llmos.toml, or give --url", file=sys.stderr)
        return 1
    outcome = schedule.check(source, _layout(args), progress=ConsoleProgress(),
                             efivars=args.efivars or schedule.EFIVARS)
    print(outcome.line().removeprefix("! "))
    if outcome.result == "installed":
        print("It starts at the next boot (`llmos reboot` starts it now).")
    return {"installed": 0, "up-to-date": 0, "refused": EXIT_REFUSED}.get(outcome.result, 1)


def _status(args: argparse.Namespace) -> int:
    from llmos.update import loader, status, store

    layout = _layout(args)
    booted = layout.booted_entry or loader.selected_entry()
    report = status.gather(layout.esp, layout.state_path, layout.active,
                           devices=dict(layout.slot_devices), booted_entry=booted,
                           running_version=layout.running_version,
                           store_dir=layout.store or Path("/") / store.STORE_DIR, models=layout.models)
    print(status.render(report))
    return 0


def _layout_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("where things are (defaults: the running image)")
    group.add_argument("--esp", type=Path, help="mounted EFI system partition (default $LLMOS_ESP or /efi)")
    group.add_argument("--slot-a", type=Path, help="device of root slot a")
    group.add_argument("--slot-b", type=Path, help="device of root slot b")
    group.add_argument("--root-a", help="root= for slot a's entry, e.g. PARTUUID=...")
    group.add_argument("--root-b", help="root= for slot b's entry")
    group.add_argument("--active", choices=["a", "b"], help="the running slot (default: llmos.slot= "
                                                           "on the kernel command line)")
    group.add_argument("--state", type=Path, help="slot state file (default on the data partition)")
    group.add_argument("--key", type=Path, help="trusted public key (default: the image's)")
    group.add_argument("--arch", help="this machine's architecture (default: uname -m)")
    group.add_argument("--running-version", help="the running OS version (default: os-release "
                                                 "IMAGE_VERSION, else the state file)")
    group.add_argument("--booted-entry", help="the booted loader entry id (default: LoaderEntrySelected)")
    group.add_argument("--max-bytes", type=int, default=4 << 30, help="largest bundle accepted")
    group.add_argument("--options", help="kernel command line for the new entry besides root= and "
                                         "llmos.slot= (default: the running slot's entry)")
    group.add_argument("--store", type=Path, help="the model store, writable (default: the models "
                                                  "partition, mounted for the update)")
    group.add_argument("--models", type=Path, default=Path("/usr/share/llmos/models"),
                       help="the running root's models directory, whose links the store keeps")


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """In the image: `llmos update apply FILE|URL`, `llmos update check` and `llmos update status`."""
    update = subparsers.add_parser("update", help="apply a signed update bundle to the inactive slot")
    commands = update.add_subparsers(dest="update_command", required=True)
    apply_parser = commands.add_parser("apply", help="verify a bundle, write the inactive slot, boot it next")
    apply_parser.add_argument("source", metavar="FILE|URL", help="bundle file, or http(s) URL to download")
    apply_parser.add_argument("--force", action="store_true",
                              help="install even if the version is not newer than the running one")
    apply_parser.add_argument("--tries", type=int, default=3, help="boot attempts before falling back")
    _layout_arguments(apply_parser)
    apply_parser.set_defaults(run=_apply, writes=True)
    check_parser = commands.add_parser("check", help="check the [update] url now; install a newer bundle")
    check_parser.add_argument("--url", help="bundle URL or git remote (default: [update] url)")
    check_parser.add_argument("--path", help="the bundle's path in the git remote (default: [update] path)")
    check_parser.add_argument("--ref", help="the git remote's branch or tag (default: [update] ref)")
    check_parser.add_argument("--efivars", type=Path, help="efivarfs, where systemd-boot tells whether "
                                                          "this boot is on trial")
    _layout_arguments(check_parser)
    check_parser.set_defaults(run=_check, writes=True)
    status_parser = commands.add_parser("status", help="slots, versions, tries left, last result")
    _layout_arguments(status_parser)
    status_parser.set_defaults(run=_status)


def add_image_commands(image_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """On the build host, under `llmos image`: keygen and bundle."""
    keygen = image_commands.add_parser("keygen", help="make the Ed25519 key pair that signs update bundles")
    keygen.add_argument("--out", type=Path, required=True, help="directory for the key files")
    keygen.add_argument("--force", action="store_true", help="replace an existing private key")
    keygen.set_defaults(run=_keygen)
    bundle = image_commands.add_parser("bundle", help="make a signed update bundle from a root image, "
                                                      "kernel and initrd")
    bundle.add_argument("--key", type=Path, required=True, help="private key (from llmos image keygen)")
    bundle.add_argument("--version", help="OS version of this bundle, e.g. 2 or 1.4.0 (default: the root's "
                                          "IMAGE_VERSION, which it must match)")
    bundle.add_argument("--from-image", type=Path, help="a built disk image (build/images/VARIANT/*.raw): "
                        "its squashfs root, with the .vmlinuz and .initrd beside it")
    bundle.add_argument("--root", type=Path, help="root file system image for a slot")
    bundle.add_argument("--store", type=Path, help="the model files the root links to: a directory of "
                        "files named by their sha256 (default with --from-image: the image's models "
                        "partition)")
    bundle.add_argument("--kernel", type=Path)
    bundle.add_argument("--initrd", type=Path)
    bundle.add_argument("--arch", default="x86_64", help="target architecture (default x86_64)")
    bundle.add_argument("-o", "--output", type=Path, required=True, help="bundle file to write")
    bundle.set_defaults(run=_bundle)
