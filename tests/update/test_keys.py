"""Key pair generation and loading, and the errors for key files that are wrong."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from llmos.update import keys


def test_generate_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    pair = keys.generate(tmp_path / "out")
    assert stat.S_IMODE(pair.private_path.stat().st_mode) == 0o600
    assert pair.private_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert pair.public_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    private, public = keys.load_private(pair.private_path), keys.load_public(pair.public_path)
    assert keys.public_raw(private.public_key()) == keys.public_raw(public)
    assert keys.key_id(public) == pair.key_id and len(pair.key_id) == 16
    assert not list((tmp_path / "out").glob(".*"))  # no temp files left behind


def test_generate_refuses_to_replace_a_private_key(tmp_path: Path) -> None:
    first = keys.generate(tmp_path)
    with pytest.raises(keys.KeyFileError, match="already there"):
        keys.generate(tmp_path)
    assert keys.load_public(first.public_path)  # untouched
    second = keys.generate(tmp_path, overwrite=True)
    assert second.key_id != first.key_id


def test_public_key_as_raw_bytes_or_hex(tmp_path: Path) -> None:
    public = Ed25519PrivateKey.generate().public_key()
    raw = keys.public_raw(public)
    (tmp_path / "raw").write_bytes(raw)
    (tmp_path / "hex").write_text(raw.hex() + "\n")
    assert keys.public_raw(keys.load_public(tmp_path / "raw")) == raw
    assert keys.public_raw(keys.load_public(tmp_path / "hex")) == raw


def test_private_key_as_raw_bytes(tmp_path: Path) -> None:
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    (tmp_path / "raw").write_bytes(raw)
    assert keys.key_id(keys.load_private(tmp_path / "raw").public_key()) == keys.key_id(private.public_key())


@pytest.mark.parametrize("content,message", [
    (None, "no such public key file"),
    (b"", "empty"),
    (b"hello, I am not a key\n", "expected PEM, OpenSSH, 32 raw bytes or 64 hex digits"),
    (b"-----BEGIN PUBLIC KEY-----\nAAAAgarbled\n-----END PUBLIC KEY-----\n", "garbled public key"),
])
def test_public_key_errors(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "key.pub"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(keys.KeyFileError, match=message) as raised:
        keys.load_public(path)
    assert str(path) in str(raised.value)


def test_private_key_given_where_the_public_one_belongs(tmp_path: Path) -> None:
    pair = keys.generate(tmp_path)
    with pytest.raises(keys.KeyFileError, match="this is a private key"):
        keys.load_public(pair.private_path)
    with pytest.raises(keys.KeyFileError, match="this is a public key"):
        keys.load_private(pair.public_path)


def test_private_key_errors(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----\n")
    with pytest.raises(keys.KeyFileError, match="garbled private key"):
        keys.load_private(path)
    path.write_bytes(b"\x00" * 10)
    with pytest.raises(keys.KeyFileError, match="not a PEM private key"):
        keys.load_private(path)


def test_other_algorithms_and_encrypted_keys_are_named(tmp_path: Path) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    (tmp_path / "rsa.pem").write_bytes(rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (tmp_path / "rsa.pub").write_bytes(rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(keys.KeyFileError, match="not an Ed25519 key"):
        keys.load_private(tmp_path / "rsa.pem")
    with pytest.raises(keys.KeyFileError, match="not an Ed25519 key"):
        keys.load_public(tmp_path / "rsa.pub")
    (tmp_path / "locked.pem").write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    with pytest.raises(keys.KeyFileError, match="password-protected"):
        keys.load_private(tmp_path / "locked.pem")
