"""Rankers that misbehave the ways a real one can: hang, or answer with non-numbers (``pkg.module:factory``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

HANG_S = 1.5  # how long HangingRanker's first call blocks


class HangingRanker:
    """Its first call blocks for ``HANG_S`` (a stuck ranker: swapped out, a deadlock, a slow disk); later calls are
    instant. Scores by prompt length so the order it gives is known (shorter prompt = higher score)."""

    name = "hanging"
    manifest: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        self.calls = 0  # how many batches it was asked to score
        self._lock = threading.Lock()

    def score(self, prompts: Sequence[Any]) -> np.ndarray:
        with self._lock:
            self.calls += 1
            first = self.calls == 1
        if first:
            time.sleep(HANG_S)
        return -np.array([len(str(p)) for p in prompts], dtype=np.float32)


class NanRanker:
    """Answers NaN for every prompt (a broken model file, a division by zero)."""

    name = "nan"
    manifest: ClassVar[dict[str, Any]] = {}

    def score(self, prompts: Sequence[Any]) -> np.ndarray:
        return np.full(len(prompts), np.nan, dtype=np.float32)
