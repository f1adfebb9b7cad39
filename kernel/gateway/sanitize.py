"""User text -> safe delimited data. The user's prompt never becomes instructions: it is cleaned here
and then travels only inside <user_request>...</user_request> in the user turn (or as one line after
"Request:" in the local few-shot prompt), so it cannot close the delimiter or fake a new section."""

from __future__ import annotations

import re
import unicodedata

from llmos.kernel.gateway.errors import BadPrompt
from llmos.settings import GatewaySettings, default_of

# <user_request>, </ user_request >, &lt;system&gt; ... any tag-looking thing is defanged.
_ANGLE = str.maketrans({"<": "‹", ">": "›"})
_FENCE = re.compile(r"`{3,}")
_ENTITY = re.compile(r"&(lt|gt|#0*60|#0*62|#x0*3c|#x0*3e);", re.I)
_FAKE_SECTION = re.compile(r"^\s*(request|spec|system|assistant|user|human)\s*:", re.I | re.M)
MAX_PROMPT_CHARS = default_of(GatewaySettings, "max_prompt_chars")


def _looks_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    bad = sum(1 for ch in text if unicodedata.category(ch) in ("Cc", "Co", "Cs", "Cn") and ch not in "\n\t\r")
    return bad > max(2, len(text) // 20)


def sanitise(raw: str | bytes, max_chars: int = MAX_PROMPT_CHARS) -> str:
    """Clean user text or refuse it with a BadPrompt saying why."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadPrompt("the request is binary data, not text") from None
    if not isinstance(raw, str):
        raise BadPrompt("the request must be text")
    if _looks_binary(raw):
        raise BadPrompt("the request is binary data, not text")
    text = unicodedata.normalize("NFKC", raw)
    if len(text) > max_chars:
        raise BadPrompt(f"the request is {len(text)} characters long; the limit is {max_chars}")
    # Drop control and format characters (bidi overrides, zero-width joiners) except line breaks/tabs.
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf"))
    text = _ENTITY.sub(lambda m: "‹" if m.group(1).lower().endswith(("lt", "60", "3c")) else "›", text)
    text = text.translate(_ANGLE)
    text = _FENCE.sub("ʼʼʼ", text)
    text = _FAKE_SECTION.sub(lambda m: m.group(0).replace(":", " -"), text)
    text = "\n".join(" ".join(line.split()) for line in text.splitlines()).strip()
    text = re.sub(r"\n{3,}", "\n\n", text)
    if not text:
        raise BadPrompt("the request is empty")
    return text


def one_line(text: str) -> str:
    """For the local few-shot prompt, where a newline would start a new 'Request:'/'Spec:' line."""
    return " ".join(text.split())
