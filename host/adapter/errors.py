"""The one error the adapter tools raise: its message names the file (and entry) at fault."""

from __future__ import annotations


class AdapterError(ValueError):
    """Bad input to training or export: a corrupt or wrong GGUF, a bad example, a bad option."""
