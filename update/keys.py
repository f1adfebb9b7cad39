"""The vendor's Ed25519 key pair: the private half signs bundles on the build host, the public half is
baked into the image and is the only thing an update is trusted by. The files are read by llmos.ed25519,
which names what is wrong with a bad one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from llmos.ed25519 import KeyFileError, private_pem, public_pem, public_raw
from llmos.ed25519 import fingerprint as key_id
from llmos.ed25519 import read_private as load_private
from llmos.ed25519 import read_public as load_public
from llmos.update import atomic

__all__ = ["KeyFileError", "KeyPair", "generate", "key_id", "load_private", "load_public", "public_raw"]

PRIVATE_NAME = "update-ed25519.pem"
PUBLIC_NAME = "update-ed25519.pub"


@dataclass(frozen=True)
class KeyPair:
    private_path: Path
    public_path: Path
    key_id: str


def generate(out_dir: Path, *, overwrite: bool = False) -> KeyPair:
    """Make a new pair in out_dir. Refuses to replace an existing private key unless told to: losing it
    means no machine in the field can be updated again."""
    out_dir.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out_dir / PRIVATE_NAME, out_dir / PUBLIC_NAME
    if not overwrite and private_path.exists():
        raise KeyFileError(f"{private_path}: a private key is already there; refusing to replace it "
                           "(every machine carrying its public half would stop accepting updates)")
    private = Ed25519PrivateKey.generate()
    atomic.write_bytes(private_path, private_pem(private), mode=0o600)
    os.chmod(private_path, 0o600)  # the umask may have narrowed it further; never wider
    public = private.public_key()
    atomic.write_bytes(public_path, public_pem(public))
    return KeyPair(private_path, public_path, key_id(public))
