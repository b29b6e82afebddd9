"""Leakage between splits: identical and near-identical prompts (ShareGPT repeats many), found and removed.

Prompts are compared as normalized text (the ranker's text, lower-cased, punctuation dropped, whitespace
collapsed). Identical: equal normalized text. Near-identical: Jaccard similarity of word 3-shingle sets
>= ``NEAR_JACCARD``, found with MinHash (``NUM_PERM`` hashes, LSH in ``NUM_BANDS`` bands) and then checked on the
exact shingle sets, so a reported pair really is that similar. 11k prompts take a few seconds.

``dedup_splits`` removes from train and val every row that repeats a test prompt, and from train every row that
repeats a val prompt; the test split is never changed.
"""

from __future__ import annotations

import re
import zlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from ltrsched.predictor.data import LengthExample
from ltrsched.predictor.prompts import normalize

SHINGLE = 3  # words per shingle
NEAR_JACCARD = 0.8  # shingle-set Jaccard at or above which two prompts count as near-identical
NUM_PERM = 64  # MinHash functions
NUM_BANDS = 16  # LSH bands (4 rows each): pairs at Jaccard 0.8 collide in some band with p > 0.999
MAX_WORDS = 2000  # words of a prompt shingled (long near-duplicates agree long before this)
_PRIME = (1 << 61) - 1
_WORD = re.compile(r"[^\w]+", re.U)


@dataclass(slots=True)
class LeakReport:
    """How many rows of a split repeated a prompt of a reference split, and were removed."""

    split: str  # the split rows were removed from
    against: str  # the split they repeat
    num_identical: int  # rows whose normalized text equals a reference prompt's
    num_near: int  # further rows with shingle Jaccard >= NEAR_JACCARD to a reference prompt
    examples: list[tuple[str, str]] = field(default_factory=list)  # a few (row id, reference id) pairs


def norm_text(prompt: object) -> str:
    """Lower-cased words of the ranker's text, single spaces."""
    return " ".join(_WORD.sub(" ", normalize(prompt).lower()).split())


def shingles(text: str) -> set[int]:
    """crc32 of every word 3-shingle (the whole text when shorter); deterministic across processes."""
    words = text.split()[:MAX_WORDS]
    grams = [" ".join(words[i:i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))]
    return {zlib.crc32(g.encode()) for g in grams}


def _minhash(sh: set[int], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    h = np.fromiter(sh, dtype=np.uint64, count=len(sh)) if sh else np.zeros(1, np.uint64)
    return ((h[:, None] * a[None, :] + b[None, :]) % _PRIME).min(axis=0)


class PromptIndex:
    """Reference prompts, queried for identical and near-identical ones."""

    def __init__(self, examples: list[LengthExample], seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self._a = rng.integers(1, 1 << 31, size=NUM_PERM, dtype=np.uint64)
        self._b = rng.integers(0, 1 << 31, size=NUM_PERM, dtype=np.uint64)
        self.ids = [e.id for e in examples]
        texts = [norm_text(e.prompt) for e in examples]
        self._exact = {t: i for i, t in enumerate(texts)}
        self._shingles = [shingles(t) for t in texts]
        self._bands: dict[tuple[int, bytes], list[int]] = defaultdict(list)
        for i, sh in enumerate(self._shingles):
            for key in self._band_keys(sh):
                self._bands[key].append(i)

    def _band_keys(self, sh: set[int]) -> list[tuple[int, bytes]]:
        sig = _minhash(sh, self._a, self._b)
        rows = NUM_PERM // NUM_BANDS
        return [(band, sig[band * rows:(band + 1) * rows].tobytes()) for band in range(NUM_BANDS)]

    def match(self, prompt: object) -> tuple[str, int] | None:
        """("identical" or "near", reference index) of the first match, or None."""
        text = norm_text(prompt)
        if text in self._exact:
            return "identical", self._exact[text]
        sh = shingles(text)
        for key in self._band_keys(sh):
            for j in self._bands.get(key, ()):
                ref = self._shingles[j]
                if len(sh & ref) >= NEAR_JACCARD * len(sh | ref):
                    return "near", j
        return None


def remove_leaks(rows: list[LengthExample], index: PromptIndex, split: str,
                 against: str) -> tuple[list[LengthExample], LeakReport]:
    """``rows`` without those repeating a prompt of ``index``, and the count."""
    report = LeakReport(split, against, 0, 0)
    kept = []
    for e in rows:
        found = index.match(e.prompt)
        if found is None:
            kept.append(e)
            continue
        kind, j = found
        if kind == "identical":
            report.num_identical += 1
        else:
            report.num_near += 1
        if len(report.examples) < 5:
            report.examples.append((e.id, index.ids[j]))
    return kept, report


def dedup_splits(train: list[LengthExample], val: list[LengthExample], test: list[LengthExample],
                 ) -> tuple[list[LengthExample], list[LengthExample], list[LeakReport]]:
    """(train, val) without rows repeating test (both) or val (train); test itself is not touched."""
    test_index = PromptIndex(test)
    train, r1 = remove_leaks(train, test_index, "train", "test")
    val, r2 = remove_leaks(val, test_index, "val", "test")
    train, r3 = remove_leaks(train, PromptIndex(val), "train", "val")
    return train, val, [r1, r2, r3]
