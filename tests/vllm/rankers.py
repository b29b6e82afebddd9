"""Rankers the plugin loads by ``"tests.vllm.rankers:factory"`` in engine tests (a real ranker, plus failure modes)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

RANKER_DIR_ENV = "LTRSCHED_TEST_RANKER_DIR"  # folder of the real fast ranker the tests trained
BOOM = "boom"  # a prompt containing this word makes BoomRanker raise


class BoomRanker:
    """The real fast ranker, except that any batch holding a prompt with "boom" raises (a scorer bug)."""

    name = "boom"
    manifest: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        from ltrsched.predictor import load_ranker

        self.inner = load_ranker(os.environ[RANKER_DIR_ENV])
        self.calls: list[list[str]] = []  # every batch it was asked to score

    def score(self, prompts: Sequence[Any]) -> np.ndarray:
        self.calls.append([str(p) for p in prompts])
        if any(BOOM in str(p) for p in prompts):
            raise RuntimeError("scorer bug: cannot score this prompt")
        return self.inner.score(prompts)


def broken_factory() -> Any:
    """A ranker that cannot even be built (a missing file, a bad install)."""
    raise FileNotFoundError("no weights here")
