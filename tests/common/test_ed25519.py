"""One reader for every Ed25519 key file: the forms users paste all give the same key."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from llmos import ed25519


def test_every_public_form_reads_as_the_same_key(tmp_path: Path) -> None:
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    raw = ed25519.public_raw(public)
    forms = {
        "pem": ed25519.public_pem(public),
        "ssh": public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
        "raw": raw,
        "hex": raw.hex().encode() + b"\n",
    }
    for name, data in forms.items():
        (tmp_path / name).write_bytes(data)
        assert ed25519.public_raw(ed25519.read_public(tmp_path / name)) == raw, name
    (tmp_path / "private").write_bytes(ed25519.private_pem(private))
    assert ed25519.fingerprint(ed25519.read_private(tmp_path / "private").public_key()) == \
        ed25519.fingerprint(public)


def test_an_ssh_public_key_is_not_a_signing_key(tmp_path: Path) -> None:
    public = Ed25519PrivateKey.generate().public_key()
    path = tmp_path / "id_ed25519.pub"
    path.write_bytes(public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH))
    with pytest.raises(ed25519.KeyFileError, match="this is a public key") as raised:
        ed25519.read_private(path)
    assert str(path) in str(raised.value)
