"""The app sandbox: per-app host processes running QuickJS-in-WASM, and the kernel-side broker that
checks the app's capability token on every privileged call."""


def launch(record, granted):  # the flow's default launcher (kernel/flow/pipeline.py default_launcher)
    """Apps run under the kernel service's broker and app manager (kernel/service.py passes its own
    launcher to AppFlow); a process without the service cannot host one."""
    raise RuntimeError("apps run under the kernel service, which is not running here "
                       "(start it with `python3 -m llmos.kernel`)")
