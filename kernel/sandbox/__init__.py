"""The app sandbox: per-app host processes running QuickJS-in-WASM, and the kernel-side broker that
checks the app's capability token on every privileged call."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmos.api import Launched
    from llmos.kernel.registry import Record


def launch(record: Record, granted: list[str]) -> Launched:  # the flow's default launcher (pipeline.py)
    """Apps run under the kernel service's broker and app manager (kernel/service.py passes its own
    launcher to AppFlow); a process without the service cannot host one."""
    raise RuntimeError("apps run under the kernel service, which is not running here "
                       "(start it with `python3 -m llmos.kernel`)")
