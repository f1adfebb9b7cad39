"""Where LLM OS keeps things. Each location can be moved with an environment variable so that
host-side tests run the same code against a temporary directory instead of the real system paths."""

from __future__ import annotations

import os
from pathlib import Path


def _dir(variable: str, default: str) -> Path:
    return Path(os.environ.get(variable, default))


def config_file() -> Path:
    """The system configuration, /etc/llmos/llmos.toml."""
    return _dir("LLMOS_CONFIG", "/etc/llmos/llmos.toml")


def state_dir() -> Path:
    """Persistent state on the data partition: registry, keys, per-app storage."""
    return _dir("LLMOS_STATE_DIR", "/var/lib/llmos")


def run_dir() -> Path:
    """Sockets and other runtime files, on tmpfs."""
    return _dir("LLMOS_RUN_DIR", "/run/llmos")


def quickjs_cache_dir() -> Path:
    """This machine's compiled QuickJS guest, when the image's does not fit its CPU (sandbox/wasmcache.py)."""
    return state_dir() / "cache" / "quickjs"


def apps_run_dir() -> Path:
    """The app hosts' control sockets and the zygote's (kernel/sandbox/manager.py)."""
    return run_dir() / "apps"


def socket_path(service: str) -> Path:
    """The control or API socket of a service, e.g. /run/llmos/init.sock."""
    return run_dir() / f"{service}.sock"


def models_dir() -> Path:
    """Read-only GGUF models baked into the image (or a host cache for development)."""
    return _dir("LLMOS_MODELS_DIR", "/usr/share/llmos/models")


def cache_dir() -> Path:
    """Host-side cache for slow things (wheels, mkosi packages, models), outside any checkout."""
    return _dir("LLMOS_CACHE_DIR", "/var/cache/llmos")
