"""The example library by meaning: each example's sentence embedding (encoder.py), kept on disk, and
how near a request is to each, as a cosine in -1..1.

Why: BM25 (retrieval.py) needs the request's own words, and people use others: "grocery list" is the
shopping list, "a cuppa" the tea timer, "throw one die" the dice roller. On a development set of 227
paraphrased requests (tests/kernel/applang/retrieval_dev.toml), the nearest example by meaning was
the intended one 142 times in 167, by BM25 87 times (272 examples).

The vectors of the library are computed once per library and model: the image bakes them beside the
model (host/image.py), a development host keeps them in its cache. A library whose vectors are
nowhere is encoded in memory (12 s for 250 examples here, far longer in a VM under TCG).
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from llmos import atomicfile, paths
from llmos.kernel.applang import encoder as enc
from llmos.kernel.applang.examples import Example
from llmos.kernel.applang.neutral import neutral

LAYOUT = "2"  # bump when library_texts() changes: the vectors' key includes it
log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]


def example_text(example: Example) -> str:
    """What is embedded of an example: its title and request ("Tip: a tip calculator that splits the
    bill"); the title names the app as a person would (a measured gain over the request alone)."""
    title = example.app.get("title")
    return f"{title}: {example.request}" if isinstance(title, str) and title else example.request


def library_texts(examples: Sequence[Example]) -> list[str]:
    """What the library's vectors are made of, one row each: every example's text, then each of
    those read without its particulars (places, holidays: neutral.py), in the same order."""
    texts = [example_text(example) for example in examples]
    return texts + [neutral(text) for text in texts]


def vectors_key(texts: Sequence[str]) -> str:
    digest = hashlib.sha256("\n".join((LAYOUT, enc.MODEL_NAME, enc.LAYOUT, *texts)).encode())
    return digest.hexdigest()[:16]


def baked_path(key: str) -> Path:
    """Where the image keeps the library's vectors (read-only)."""
    return enc.image_model_dir() / f"examples-{key}.npy"


def cached_path(key: str) -> Path:
    return paths.cache_dir() / "applang" / f"examples-{key}.npy"


def _read(path: Path, rows: int) -> Vectors | None:
    try:
        found = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        if path.exists():
            log.warning("%s: unreadable example vectors (%s); encoding again", path, error)
        return None
    if found.shape != (rows, enc.DIMENSIONS) or found.dtype != np.float32:
        log.warning("%s: example vectors of shape %s, expected (%d, %d); encoding again", path,
                    found.shape, rows, enc.DIMENSIONS)
        return None
    vectors: Vectors = found
    return vectors


def save(vectors: Vectors, path: Path) -> None:
    """Write atomically (temp file, then rename), so a reader never sees half a file."""
    buffer = io.BytesIO()
    np.save(buffer, vectors, allow_pickle=False)
    atomicfile.write_bytes(path, buffer.getvalue(), mode=0o644)


@dataclass(frozen=True)
class MeaningIndex:
    """The library's vectors (`library_texts`: as written, then without particulars) and the encoder
    for requests."""

    encoder: enc.SentenceEncoder
    vectors: Vectors  # one unit row per library text: the examples in order, then the same neutral

    def similarities(self, request: str) -> Vectors:
        """The cosine of the request with every example, in the library's order. A request that names
        a place or a holiday is also compared without it (neutral.py), example for example, and the
        higher cosine counts."""
        rows = len(self.vectors) // 2
        plain = neutral(request)
        queries = self.encoder.encode([request] if plain == request else [request, plain])
        similarities: Vectors = self.vectors[:rows] @ queries[0]
        if len(queries) > 1:
            similarities = np.maximum(similarities, self.vectors[rows:] @ queries[1])
        return similarities


def vectors_for(encoder: enc.SentenceEncoder, examples: Sequence[Example]) -> Vectors:
    """The library's vectors: baked, cached or encoded now (and cached when the cache is writable)."""
    texts = library_texts(examples)
    key = vectors_key(texts)
    for path in (baked_path(key), cached_path(key)):
        found = _read(path, len(texts))
        if found is not None:
            log.info("example vectors: %s", path)
            return found
    unique = list(dict.fromkeys(texts))  # most examples name no place or holiday: their two rows are one text
    log.warning("example vectors: none baked or cached for this library (key %s); encoding %d texts",
                key, len(unique))
    encoded = encoder.encode(unique)
    row = {text: number for number, text in enumerate(unique)}
    vectors: Vectors = encoded[[row[text] for text in texts]]
    try:
        save(vectors, cached_path(key))
    except OSError as error:
        log.info("example vectors not cached (%s)", error)
    return vectors


_ENCODER: list[enc.SentenceEncoder | None] = []  # loaded once per process; [None] when unavailable


def shared_encoder() -> enc.SentenceEncoder | None:
    """The process's encoder, or None (logged once) when no model is installed."""
    if not _ENCODER:
        try:
            _ENCODER.append(enc.load_encoder())
        except enc.EncoderUnavailable as error:
            log.warning("retrieval by words only: %s", error)
            _ENCODER.append(None)
    return _ENCODER[0]


def meaning_index(examples: Sequence[Example]) -> MeaningIndex | None:
    encoder = shared_encoder()
    return None if encoder is None else MeaningIndex(encoder, vectors_for(encoder, examples))
