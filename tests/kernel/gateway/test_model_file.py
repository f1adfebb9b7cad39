"""GGUF location and verification: every failure names the file and the expected sha256."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from llmos.kernel.gateway import model
from llmos.kernel.gateway.errors import ModelFileError
from llmos.settings import GatewaySettings


def test_missing_file_names_path_and_digest(tmp_path: Path) -> None:
    target = tmp_path / "nothere.gguf"
    with pytest.raises(ModelFileError) as caught:
        model.verify(target, model.EMBEDDED_SHA256, model.EMBEDDED_SIZE)
    assert str(target) in str(caught.value) and "missing" in str(caught.value)
    assert model.EMBEDDED_SHA256 in str(caught.value)


def test_truncated_file_reports_size(tmp_path: Path) -> None:
    target = tmp_path / model.EMBEDDED_NAME
    target.write_bytes(b"GGUF" + b"\0" * 1000)
    with pytest.raises(ModelFileError) as caught:
        model.verify(target, model.EMBEDDED_SHA256, model.EMBEDDED_SIZE)
    message = str(caught.value)
    assert "1004 bytes" in message and str(model.EMBEDDED_SIZE) in message
    assert model.EMBEDDED_SHA256 in message


def test_not_gguf_is_rejected_before_hashing(tmp_path: Path) -> None:
    target = tmp_path / "weights.gguf"
    target.write_bytes(b"PK\x03\x04 a zip, not a model")
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        model.verify(target, "0" * 64)


def test_right_size_wrong_sha_is_named(tmp_path: Path) -> None:
    """A sparse file of the exact size with the right magic: only the digest can tell."""
    target = tmp_path / model.EMBEDDED_NAME
    with target.open("wb") as file:
        file.write(b"GGUF")
        file.truncate(model.EMBEDDED_SIZE)
    with pytest.raises(ModelFileError) as caught:
        model.verify(target, model.EMBEDDED_SHA256, model.EMBEDDED_SIZE)
    assert "sha256 is" in str(caught.value) and model.EMBEDDED_SHA256 in str(caught.value)


def test_configured_model_with_optional_digest(tmp_path: Path) -> None:
    target = tmp_path / "big.gguf"
    target.write_bytes(b"GGUF" + os.urandom(64))
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    found = model.locate(GatewaySettings(local_model=str(target), local_model_sha256=digest))
    assert found.path == target and not found.embedded
    assert model.locate(GatewaySettings(local_model=str(target))).sha256 is None  # digest is optional
    with pytest.raises(ModelFileError, match="f" * 64):
        model.locate(GatewaySettings(local_model=str(target), local_model_sha256="f" * 64))


def test_corrupt_image_model_is_not_silently_replaced(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    images = tmp_path / "models"
    images.mkdir()
    (images / model.EMBEDDED_NAME).write_bytes(b"GGUF truncated")
    monkeypatch.setenv("LLMOS_MODELS_DIR", str(images))
    with pytest.raises(ModelFileError) as caught:
        model.locate(GatewaySettings())
    assert str(images / model.EMBEDDED_NAME) in str(caught.value)


def test_embedded_model_is_found_and_verified(local_model: object) -> None:
    """The session fixture assembled/verified it already; locate() returns the same checked file."""
    found = model.locate(GatewaySettings())
    assert found.embedded and found.path.stat().st_size == model.EMBEDDED_SIZE
    assert found.path.open("rb").read(4) == model.GGUF_MAGIC
