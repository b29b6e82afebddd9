"""Ranking quality: Kendall tau-b per list of 32 (the paper's number) and over a whole split.

Scores follow the ranker's convention (higher = shorter expected output), so tau is taken between the scores
and the *negated* true lengths: a perfect ranker gets +1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LIST_SIZE = 32  # prompts per list, as the paper (one training batch = one list)


def tau_b(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Kendall tau-b of two rankings, O(n^2) (for short lists); nan where either side is all ties.

    tau-b = (Nc - Nd) / sqrt((N0 - N1)(N0 - N2)): tied pairs count as neither concordant nor discordant.
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    iu = np.triu_indices(len(a), 1)
    da = np.sign(a[:, None] - a[None, :])[iu]
    db = np.sign(b[:, None] - b[None, :])[iu]
    den = np.sqrt(float(np.count_nonzero(da)) * float(np.count_nonzero(db)))
    return float(np.dot(da, db) / den) if den > 0 else float("nan")


def list_taus(scores: Sequence[float] | np.ndarray, output_lens: Sequence[int] | np.ndarray,
              list_size: int = LIST_SIZE, censored: Sequence[bool] | np.ndarray | None = None) -> np.ndarray:
    """Tau-b of each consecutive list of ``list_size`` (a shorter tail list is dropped; all-tie lists too). With
    censored rows, each list's 2C - 1 over the pairs it decides (``censor.concordance``) instead."""
    if censored is not None and np.any(censored):
        return _censored_list_taus(np.asarray(scores), np.asarray(output_lens), np.asarray(censored), list_size)
    s = np.asarray(scores, dtype=np.float64)
    neg = -np.asarray(output_lens, dtype=np.float64)
    taus = [tau_b(s[i:i + list_size], neg[i:i + list_size]) for i in range(0, len(s) - list_size + 1, list_size)]
    return np.array([t for t in taus if not np.isnan(t)])


def mean_list_tau(scores: Sequence[float] | np.ndarray, output_lens: Sequence[int] | np.ndarray,
                  list_size: int = LIST_SIZE, censored: Sequence[bool] | np.ndarray | None = None) -> float:
    """The paper's metric: tau-b averaged over lists of ``list_size``. With censored rows (lengths that are lower
    bounds) each list counts only the pairs it decides (``censor.concordance``), as 2C - 1 on the same scale."""
    taus = list_taus(scores, output_lens, list_size, censored)
    return float(taus.mean()) if len(taus) else float("nan")


def _censored_list_taus(scores: np.ndarray, lens: np.ndarray, censored: np.ndarray, list_size: int) -> np.ndarray:
    from ltrsched.predictor.censor import concordance

    return np.array([2.0 * concordance(scores[i:i + list_size], lens[i:i + list_size], censored[i:i + list_size])
                     - 1.0 for i in range(0, len(scores) - list_size + 1, list_size)])


def split_tau(scores: Sequence[float] | np.ndarray, output_lens: Sequence[int] | np.ndarray) -> float:
    """Tau-b over the whole split (O(n log n), scipy's default variant)."""
    from scipy.stats import kendalltau

    return float(kendalltau(np.asarray(scores), -np.asarray(output_lens)).statistic)

