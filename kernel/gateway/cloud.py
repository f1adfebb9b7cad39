"""The cloud provider: Anthropic Claude through the official `anthropic` SDK, streaming.

The SDK already retries 408/409/429/5xx/529 with exponential backoff and honours retry-after
(max_retries from [gateway] cloud_max_retries), so this module does not retry by hand; what is left
after the retries becomes a ProviderError and the router falls back to the local model.

The API key comes from, in order: [gateway] anthropic_api_key, the ANTHROPIC_API_KEY environment
variable, or a systemd-style credential named `anthropic_api_key` handed to the VM by QEMU:
  -fw_cfg name=opt/io.systemd.credentials/anthropic_api_key,string=sk-...  (/sys/firmware/qemu_fw_cfg)
  -smbios type=11,value=io.systemd.credential:anthropic_api_key=sk-...     (/sys/firmware/dmi)
  $CREDENTIALS_DIRECTORY/anthropic_api_key                                  (a file, if set)
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

from llmos.kernel.gateway.errors import ProviderError
from llmos.kernel.gateway.local import Chunk
from llmos.kernel.gateway.prompts import SYSTEM_PROMPT
from llmos.settings import GatewaySettings

CREDENTIAL = "anthropic_api_key"


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def credential_from_firmware(name: str = CREDENTIAL, sys_root: Path = Path("/sys")) -> str:
    """A systemd credential passed through QEMU fw_cfg or SMBIOS type 11, or ''."""
    fw_cfg = sys_root / "firmware/qemu_fw_cfg/by_name/opt/io.systemd.credentials" / name / "raw"
    if value := _read(fw_cfg):
        return value
    prefix = f"io.systemd.credential:{name}="
    entries = sys_root / "firmware/dmi/entries"
    for entry in sorted(entries.glob("11-*")) if entries.is_dir() else []:
        raw = (entry / "raw").read_bytes() if (entry / "raw").exists() else b""
        # SMBIOS structure: 4-byte header + formatted area, then NUL-separated strings.
        for string in raw[raw[1]:].split(b"\x00") if len(raw) > 1 else []:
            text = string.decode("utf-8", "replace")
            if text.startswith(prefix):
                return text[len(prefix):].strip()
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    return _read(Path(directory) / name) if directory else ""


def api_key(settings: GatewaySettings, sys_root: Path = Path("/sys")) -> str:
    return (settings.anthropic_api_key or os.environ.get("ANTHROPIC_API_KEY", "")
            or credential_from_firmware(sys_root=sys_root))


class CloudModel:
    name = "cloud"

    def __init__(self, settings: GatewaySettings, key: str) -> None:
        import anthropic

        self.settings = settings
        self.model_name = settings.cloud_model
        self._anthropic = anthropic
        self.client = anthropic.AsyncAnthropic(
            api_key=key, base_url=settings.anthropic_base_url or None,
            max_retries=settings.cloud_max_retries, timeout=settings.cloud_timeout)

    def cost(self, prompt_tokens: int, output_tokens: int) -> float:
        return (prompt_tokens * self.settings.cloud_price_in_per_mtok
                + output_tokens * self.settings.cloud_price_out_per_mtok) / 1e6

    async def complete(self, user_message: str, max_tokens: int) -> AsyncIterator[Chunk]:
        """Stream Claude's answer. The system channel carries only the kernel's SYSTEM_PROMPT."""
        errors = self._anthropic
        produced = 0
        try:
            async with self.client.messages.stream(
                model=self.model_name, max_tokens=max_tokens, system=SYSTEM_PROMPT,
                messages=[{"role": "user", "content": user_message}],
            ) as stream:
                async for text in stream.text_stream:
                    produced += 1
                    yield Chunk(text, produced)
                final = await stream.get_final_message()
        except errors.APIStatusError as error:
            kind = ""
            if isinstance(error.body, dict):
                kind = str((error.body.get("error") or {}).get("type", ""))
            raise ProviderError("cloud", f"HTTP {error.status_code} {kind}".strip()) from error
        except errors.APIConnectionError as error:
            raise ProviderError("cloud", f"connection failed: {error}") from error
        except errors.AnthropicError as error:
            raise ProviderError("cloud", str(error)) from error
        usage = final.usage
        yield Chunk("", usage.output_tokens, done=True, prompt_tokens=usage.input_tokens,
                    finish_reason=final.stop_reason)

    async def close(self) -> None:
        await self.client.close()
