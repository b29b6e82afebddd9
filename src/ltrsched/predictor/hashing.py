"""The fast tier's hashed word n-grams with numpy only: scikit-learn's ``HashingVectorizer(ngram_range=(1, n),
alternate_sign=False, norm="l2")``, the same feature indices and values, without importing scikit-learn.

Importing ``sklearn.feature_extraction.text`` holds ~95 MB (it pulls scipy, pandas and narwhals in) and takes ~1.5 s;
scoring needs none of it. Same steps as scikit-learn: lower-case, tokens ``(?u)\\b\\w\\w+\\b``, word n-grams joined by
one space, each feature's UTF-8 bytes through MurmurHash3 (x86, 32-bit, seed 0), index ``abs(hash) % n_features``,
counts summed per index, rows scaled to unit length. tests/predictor/test_fast.py checks it against scikit-learn.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern
C1, C2 = 0xCC9E2D51, 0x1B873593


@dataclass(slots=True)
class HashedRows:
    """Unit-length rows of hashed counts, one entry per distinct index of a row (CSR's parts, sorted by row)."""

    rows: np.ndarray  # [nnz] row of each entry
    indices: np.ndarray  # [nnz] feature index
    values: np.ndarray  # [nnz] float32 count / row norm
    n_rows: int


def ngrams(text: str, n_max: int) -> list[str]:
    """Word 1..n_max-grams of ``text`` in scikit-learn's order (all unigrams, then bigrams, ...)."""
    tokens = TOKEN.findall(text.lower())
    out = list(tokens)
    for n in range(2, min(n_max, len(tokens)) + 1):
        out += [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return out


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _scramble(k: np.ndarray) -> np.ndarray:
    return _rotl(k * np.uint32(C1), 15) * np.uint32(C2)


def murmur3_32(keys: Sequence[bytes], seed: int = 0) -> np.ndarray:
    """[n] int32 MurmurHash3_x86_32 of each key (scikit-learn's ``murmurhash3_32(key, seed)``), vectorized."""
    n = len(keys)
    lens = np.fromiter(map(len, keys), dtype=np.int64, count=n)
    buf = np.frombuffer(b"".join(keys) + b"\0\0\0", dtype=np.uint8).astype(np.uint32)  # padded: tails read 3
    starts = np.cumsum(lens) - lens
    h = np.full(n, seed, dtype=np.uint32)
    blocks, rows = lens // 4, np.arange(n)
    for j in range(int(blocks.max(initial=0))):
        rows = rows[blocks[rows] > j]
        at = starts[rows] + 4 * j
        k = buf[at] | (buf[at + 1] << np.uint32(8)) | (buf[at + 2] << np.uint32(16)) | (buf[at + 3] << np.uint32(24))
        h[rows] = _rotl(h[rows] ^ _scramble(k), 13) * np.uint32(5) + np.uint32(0xE6546B64)
    rest, at = lens & 3, starts + 4 * blocks
    tail = (buf[at] * (rest >= 1) | (buf[at + 1] << np.uint32(8)) * (rest >= 2)
            | (buf[at + 2] << np.uint32(16)) * (rest >= 3)).astype(np.uint32)
    mixed: np.ndarray = np.where(rest > 0, h ^ _scramble(tail), h) ^ lens.astype(np.uint32)
    mixed = (mixed ^ (mixed >> np.uint32(16))) * np.uint32(0x85EBCA6B)
    mixed = (mixed ^ (mixed >> np.uint32(13))) * np.uint32(0xC2B2AE35)
    return (mixed ^ (mixed >> np.uint32(16))).view(np.int32)


def hash_rows(texts: Sequence[str], n_features: int, n_max: int = 2) -> HashedRows:
    """Hashed, unit-length n-gram counts of each text (an empty text gives an empty row)."""
    grams = [ngrams(t, n_max) for t in texts]
    row = np.repeat(np.arange(len(texts), dtype=np.int64), [len(g) for g in grams])
    hashes = murmur3_32([g.encode("utf-8") for gs in grams for g in gs]).astype(np.int64)
    keys, counts = np.unique(row * n_features + np.abs(hashes) % n_features, return_counts=True)
    rows, indices = keys // n_features, keys % n_features
    norms = np.sqrt(np.bincount(rows, weights=counts.astype(np.float64) ** 2, minlength=len(texts)))
    values = (counts / norms[rows]).astype(np.float32)
    return HashedRows(rows, indices, values, len(texts))
