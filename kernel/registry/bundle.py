"""Registry bundles: apps as one JSON file (`llmos-registry-bundle` version 1), for moving apps
without a git remote. Reading checks every record (shape, hash, the signature by the key it names)
before the registry imports any; one bad record refuses the whole bundle."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from . import keys
from .record import Record, RecordError

FORMAT = "llmos-registry-bundle"
MAX_BYTES = 64 * 1024 * 1024


class BundleError(ValueError):
    """The bundle was refused as a whole; nothing was imported."""


def write(records: list[Record], path: Path) -> int:
    """Write the records as a bundle, atomically; returns how many."""
    data = json.dumps({"format": FORMAT, "version": 1, "records": [r.to_json() for r in records]},
                      indent=1, ensure_ascii=False).encode("utf-8")
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_bytes(data)
    temp.replace(path)
    return len(records)


def read(path: Path) -> list[dict[str, Any]]:
    """The bundle's apps as items for Registry.add_many: checked, unsigned (this node signs them) and
    not audited (an audit is this machine's own judgement)."""
    if path.stat().st_size > MAX_BYTES:
        raise BundleError(f"{path}: larger than {MAX_BYTES} bytes")
    try:
        data = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleError(f"{path}: not a JSON bundle: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != 1:
        raise BundleError(f"{path}: not a {FORMAT} version 1")
    if not isinstance(data.get("records"), list):
        raise BundleError(f"{path}: 'records' must be a list")
    items = []
    for index, raw in enumerate(data["records"]):
        where = f"{path.name}: records[{index}]"
        try:
            record = Record.from_json(raw, where)
            record.check_hash()
        except RecordError as error:
            raise BundleError(str(error)) from None
        if not record.signedBy or not keys.verify(record.signedBy, record.signature, record.canonical()):
            raise BundleError(f"{where} ({record.short}): bad signature; nothing imported")
        items.append({**record.to_json(), "audited": False})
    for item in items:
        item.pop("signature"), item.pop("signedBy"), item.pop("codeHash")
    return items
