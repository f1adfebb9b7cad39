"""What the user last allowed each app (by code hash), so `apps.run` relaunches an app with the
capabilities it was granted instead of asking again. A small JSON file, replaced atomically."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger("llmos.kernel.grants")


class Grants:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._grants: dict[str, list[str]] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                self._grants = {str(k): [str(s) for s in v] for k, v in data.items() if isinstance(v, list)}
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as error:
            log.error("%s: %s; starting with no remembered grants", path, error)

    def get(self, code_hash: str) -> list[str] | None:
        return self._grants.get(code_hash)

    def set(self, code_hash: str, scopes: list[str]) -> None:
        self._grants[code_hash] = sorted(set(scopes))
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(self._grants, file, indent=1, sort_keys=True)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)
