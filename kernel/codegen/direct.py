"""Read a capable model's answer: a JSON manifest block followed by the SDK TypeScript.

The expected shape (the system prompt asks for exactly this):

    ```json
    {"title": "...", "capabilities": [{"scope": "storage:local", "required": true}]}
    ```
    ```typescript
    import { ui } from '@llm-os/sdk';
    ...
    ```
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_FENCE = re.compile(r"```([A-Za-z]*)[ \t]*\n(.*?)(?:\n```|\Z)", re.S)


@dataclass
class DirectAnswer:
    header: dict[str, Any]  # the parsed JSON header ({} when the model gave none or broken JSON)
    code: str


class AnswerError(ValueError):
    """The answer holds no code block at all."""


def split_answer(text: str) -> DirectAnswer:
    header: dict[str, Any] = {}
    code: str | None = None
    for lang, body in _FENCE.findall(text):
        lang = lang.lower()
        if lang == "json" and not header:
            try:
                value = json.loads(body)
            except ValueError:
                continue
            header = value if isinstance(value, dict) else {"capabilities": value}
        elif lang in ("ts", "typescript", "tsx", "js", "javascript", "") and code is None:
            code = body.strip() + "\n"
    if code is None:
        stripped = text.strip()
        if stripped.startswith("import "):
            code = stripped + "\n"
        else:
            raise AnswerError("the model's answer contains no TypeScript code block")
    return DirectAnswer(header, code)
