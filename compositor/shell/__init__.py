"""The OS shell: launcher, generation progress, capability approval, dock, notifications, settings
and welcome screen. It is a layer inside the compositor (not a Wayland client): its UI trees are
drawn by the SDK renderer into Cairo surfaces and composited above app windows.

Import `llmos.compositor.shell.shell.Shell` explicitly: this package stays light so the compositor's
settings can read `ShellSettings`, and the compositor can own `toasts.Toasts`, without loading Pango."""
