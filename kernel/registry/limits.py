"""Limits on what a pull accepts, in one place: a remote is untrusted input until every file in it
has been checked, and these bound what it can cost before the checks run."""

from __future__ import annotations

# Per file in the git tree, checked before a file is parsed. An app file holds at most 512 KiB of
# code (record.MAX_CODE_BYTES), which JSON escaping can grow; statements are a few hundred bytes.
MAX_FILE_BYTES = {
    "marker": 1024,
    "app": 4 * 1024 * 1024,
    "rating": 16 * 1024,
    "audit": 16 * 1024,
    "key-rotation": 16 * 1024,
    "removed": 0,
}
# The pack one fetch may bring (compressed, as sent). 100,000 apps measure about 60 MB.
MAX_PACK_BYTES = 1024 * 1024 * 1024
# Seconds a connect or a read may take before the remote counts as down.
NETWORK_TIMEOUT = 30.0
# How many problems a refused pull lists (it counts them all).
PROBLEMS_SHOWN = 10
