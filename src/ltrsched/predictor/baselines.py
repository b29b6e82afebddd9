"""Reference rankers every table shows: prompt length alone, and TF-IDF (1-2-grams) + log length with ridge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ltrsched.predictor.data import LengthExample
from ltrsched.predictor.prompts import normalize


class PromptLengthRanker:
    """Longer prompt -> longer answer expected: score = -prompt tokens."""

    name = "prompt-length"
    manifest: dict[str, Any] = {"kind": "prompt-length"}  # noqa: RUF012 (read-only)

    def score_examples(self, examples: Sequence[LengthExample]) -> np.ndarray:
        return -np.array([e.prompt_len for e in examples], dtype=np.float32)


class TfidfRidgeRanker:
    """assets.md's baseline: TF-IDF of 1-2-grams plus log prompt length, ridge on log output length."""

    name = "tfidf-ridge"

    def __init__(self, train: Sequence[LengthExample], alpha: float = 1.0) -> None:
        import scipy.sparse as sp
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import Ridge

        self._sp = sp
        self.vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=200_000)
        texts = [normalize(e.prompt) for e in train]
        x = sp.hstack([self.vec.fit_transform(texts), self._len_feature(train)], format="csr")
        self.model = Ridge(alpha=alpha).fit(x, np.log1p([e.output_len for e in train]))
        self.manifest = {"kind": "tfidf-ridge", "alpha": alpha, "train": len(train)}

    @staticmethod
    def _len_feature(examples: Sequence[LengthExample]) -> np.ndarray:
        return np.log1p(np.array([[e.prompt_len] for e in examples], dtype=np.float64))

    def score_examples(self, examples: Sequence[LengthExample]) -> np.ndarray:
        texts = [normalize(e.prompt) for e in examples]
        x = self._sp.hstack([self.vec.transform(texts), self._len_feature(examples)], format="csr")
        return (-self.model.predict(x)).astype(np.float32)
