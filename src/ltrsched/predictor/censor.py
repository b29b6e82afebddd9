"""Censored lengths: a request stopped by ``max_tokens``, aborted or failed says only "at least n tokens".

Such a row still decides some orders. "i is shorter than j" is known only when i finished by itself (its
length is exact) and that length is below j's observed one (j's true length is at least what was observed,
censored or not). Every loss (``ltrsched.predictor.losses``), the fast tier's fit and the online learner train
on such pairs only: a censored row may be ranked after shorter finished ones, never before anything.
"""

from __future__ import annotations

from typing import Any

CENSORED_REASONS = ("length", "abort", "error")  # finish reasons whose output length is only a lower bound


def is_censored(finish_reason: Any) -> bool:
    """Is a row with this ``finish_reason`` a lower bound? (No reason given: an exact length, as in ShareGPT.)"""
    return finish_reason in CENSORED_REASONS


def shorter_pairs(lens: Any, censored: Any) -> Any:
    """[n, n] mask (numpy or torch, as given): [i, j] is True when i is known to be shorter than j."""
    return (lens[:, None] < lens[None, :]) & ~censored[:, None]


def concordance(scores: Any, lens: Any, censored: Any, ratio: float = 1.0) -> float:
    """Share of the decided pairs (the shorter one ``ratio`` times shorter) that ``scores`` order right (higher =
    shorter); a tie counts half: Harrell's C. 0.5 when no pair is decided."""
    import numpy as np

    s, n = np.asarray(scores, dtype=np.float64), np.asarray(lens, dtype=np.float64)
    mask = shorter_pairs(n * ratio, np.asarray(censored, dtype=bool))
    total = int(mask.sum())
    if total == 0:
        return 0.5
    gap = (s[:, None] - s[None, :])[mask]
    return float((np.count_nonzero(gap > 0) + 0.5 * np.count_nonzero(gap == 0)) / total)
