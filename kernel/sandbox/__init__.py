"""The app sandbox: per-app host processes running QuickJS-in-WASM, and the kernel-side broker that
checks the app's capability token on every privileged call."""
