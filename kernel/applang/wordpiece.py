"""BERT's WordPiece tokenizer, as Hugging Face's BertTokenizer(Fast) does it for an uncased model:
lower case, accents stripped, words split at whitespace and punctuation (each CJK character a word),
then each word cut greedily into the longest vocabulary pieces ("##" marks a piece inside a word).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# CJK Unified Ideographs and their extensions: BERT makes each such character a word of its own.
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
        (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _is_punctuation(char: str) -> bool:
    """BERT's punctuation: Unicode P* plus every ASCII non-alphanumeric printable ("$", "+", "^")."""
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK)


@dataclass(frozen=True)
class WordPieceTokenizer:
    """BERT's uncased tokenizer, as tokenizer.json describes it for this model (BertNormalizer with
    lowercase and accent stripping, BertPreTokenizer, WordPiece with "##" continuations)."""

    vocab: Mapping[str, int]
    max_tokens: int = 256  # sentence-transformers' max_seq_length for this model, [CLS] and [SEP] included
    max_word_chars: int = 100  # a longer word becomes [UNK]
    unknown: str = "[UNK]"

    @classmethod
    def from_lines(cls, lines: Iterable[str], max_tokens: int = 256) -> WordPieceTokenizer:
        return cls({token: index for index, token in enumerate(lines)}, max_tokens)

    def normalise(self, text: str) -> str:
        """Drop control characters, make whitespace a space, space out CJK, lower-case, strip accents."""
        out: list[str] = []
        for char in text:
            code = ord(char)
            if code in (0, 0xFFFD) or (char not in "\t\n\r" and unicodedata.category(char).startswith("C")):
                continue
            if char.isspace():
                out.append(" ")
            elif _is_cjk(char):
                out.append(f" {char} ")
            else:
                out.append(char)
        decomposed = unicodedata.normalize("NFD", "".join(out))
        return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").lower()

    def words(self, text: str) -> list[str]:
        """Split on whitespace, and make every punctuation character a word of its own."""
        words: list[str] = []
        for chunk in self.normalise(text).split():
            current = ""
            for char in chunk:
                if _is_punctuation(char):
                    if current:
                        words.append(current)
                    words.append(char)
                    current = ""
                else:
                    current += char
            if current:
                words.append(current)
        return words

    def pieces(self, word: str) -> list[str]:
        """Greedy longest-match-first WordPiece; a word with any unmatched rest is [UNK] as a whole."""
        if len(word) > self.max_word_chars:
            return [self.unknown]
        pieces: list[str] = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    pieces.append(piece)
                    break
                end -= 1
            else:
                return [self.unknown]
            start = end
        return pieces

    def tokens(self, text: str) -> list[str]:
        """[CLS], the word pieces (cut to max_tokens in all), [SEP]."""
        pieces = [piece for word in self.words(text) for piece in self.pieces(word)]
        return ["[CLS]", *pieces[:self.max_tokens - 2], "[SEP]"]

    def ids(self, text: str) -> list[int]:
        return [self.vocab[token] for token in self.tokens(text)]
