"""LLM OS: a bootable Linux whose applications are generated from prompts.

The subpackages live in top-level folders named after their job:
init/ (PID 1), hal/ (devices and network), compositor/ (Wayland), kernel/ (gateway, capabilities,
analysis, registry, sandbox), sdk/ (what apps see and how it is drawn) and host/ (image build, QEMU,
flashing: tools that run on the developer's machine).
"""

__version__ = "0.1.0"

# Cairo's and Pango's bindings come prebuilt in the image (/usr/lib/llmos/ffi), and so do the methods
# dataclasses generate (/usr/lib/llmos/dataclasses): import hooks, set up here so that they are in place
# before any of our modules imports those packages or defines a class; elsewhere each is one stat.
from llmos import dataclass_code as _dataclass_code
from llmos import prebuilt_ffi as _prebuilt_ffi

_prebuilt_ffi.install()
_dataclass_code.install()
