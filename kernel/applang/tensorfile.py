"""The safetensors file format, read and written with numpy alone: an 8-byte little-endian header
length, a JSON header ({name: {dtype, shape, data_offsets}}), then the raw little-endian data.

Why not the safetensors package: it is one more wheel in the image for a format this small; reading
memory-maps the file, so a model's weights are paged in as they are used.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

_DTYPES: dict[str, np.dtype[Any]] = {"I8": np.dtype("i1"), "F16": np.dtype("<f2"), "F32": np.dtype("<f4"),
                                     "I64": np.dtype("<i8")}


class TensorFileError(ValueError):
    """A malformed tensor file; the message names the file and what is wrong with it."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def read_safetensors(path: Path) -> dict[str, npt.NDArray[Any]]:
    """Every tensor of a .safetensors file: an 8-byte little-endian header length, a JSON header
    ({name: {dtype, shape, data_offsets}}), then the raw little-endian data. Why not the safetensors
    package: it is ten lines, and one dependency fewer in the image. The arrays are read-only views of
    a memory map, so what stays float16 (the word embeddings) costs page cache, shared, not heap."""
    try:
        with path.open("rb") as file:
            data: mmap.mmap | bytes = (mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
                                       if os.fstat(file.fileno()).st_size else b"")
    except OSError as error:
        raise TensorFileError(path, f"cannot read: {error.strerror or error}") from error
    if len(data) < 8:
        raise TensorFileError(path, f"{len(data)} bytes, too short for a safetensors header")
    (size,) = struct.unpack("<Q", data[:8])
    if 8 + size > len(data):
        raise TensorFileError(path, f"header says {size} bytes but the file has {len(data) - 8} after it "
                                 "(truncated?)")
    try:
        header = json.loads(data[8:8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TensorFileError(path, f"header is not JSON: {error}") from error
    if not isinstance(header, dict):
        raise TensorFileError(path, "header is not a JSON object")
    body = memoryview(data)[8 + size:]
    tensors: dict[str, npt.NDArray[Any]] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = _DTYPES[entry["dtype"]]
            shape = tuple(int(n) for n in entry["shape"])
            begin, end = (int(n) for n in entry["data_offsets"])
        except (KeyError, TypeError, ValueError) as error:
            raise TensorFileError(path, f"tensor {name!r}: bad header entry {entry!r}") from error
        expected = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        if end > len(body):
            raise TensorFileError(path, f"tensor {name!r} ends at byte {end} of the data but the data has "
                                     f"{len(body)} bytes (truncated?)")
        if not 0 <= begin <= end or end - begin != expected:
            raise TensorFileError(path, f"tensor {name!r}: offsets {begin}..{end} do not hold {shape} "
                                     f"{entry['dtype']}")
        tensors[name] = np.frombuffer(body[begin:end], dtype=dtype).reshape(shape)
    return tensors


def write_safetensors(path: Path, tensors: Mapping[str, npt.NDArray[Any]]) -> None:
    """The inverse of read_safetensors, for the copy encoder.convert() makes."""
    names = {dtype: name for name, dtype in _DTYPES.items()}
    header: dict[str, Any] = {}
    offset = 0
    for name, tensor in tensors.items():
        size = tensor.nbytes
        header[name] = {"dtype": names[tensor.dtype.newbyteorder("<")], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format pads the header so the data is 8-byte aligned
    with path.open("wb") as out:
        out.write(struct.pack("<Q", len(encoded)) + encoded)
        for tensor in tensors.values():
            out.write(np.ascontiguousarray(tensor, dtype=tensor.dtype.newbyteorder("<")).tobytes())
