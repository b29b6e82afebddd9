"""Rankers that misbehave, loaded by the plugin as ``"tests.vllm.fault_rankers:Name"`` (its ``ranker`` key)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

HANG_S = 5.0  # how long HangRanker's first call blocks: far past any sane per-step scoring time limit


class NaNRanker:
    """Returns NaN for every prompt (a model that diverged, a bad export)."""

    name = "nan"
    manifest: ClassVar[dict[str, Any]] = {}

    def score(self, prompts: Sequence[Any]) -> np.ndarray:
        return np.full(len(prompts), np.nan)


class HangRanker:
    """Blocks for HANG_S on its first call (a deadlocked thread pool, a model paged out), then answers at once."""

    name = "hang"
    manifest: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        self.num_calls = 0

    def score(self, prompts: Sequence[Any]) -> np.ndarray:
        self.num_calls += 1
        if self.num_calls == 1:
            time.sleep(HANG_S)
        return np.arange(len(prompts), dtype=float)  # later prompts "shorter": the opposite of arrival order


class ThreadCountRanker:
    """Records torch's intra-op thread count in the thread that calls it (the plugin's ranker thread)."""

    name = "threads"
    manifest: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        import torch  # loaded as a torch ranker would be, before its first call

        self.torch = torch
        self.seen: list[int] = []  # torch.get_num_threads() at each call

    def score(self, prompts: Sequence[Any]) -> np.ndarray:
        self.seen.append(self.torch.get_num_threads())
        return np.zeros(len(prompts))
