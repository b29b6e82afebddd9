"""Output-length quantiles from a ranker's score: a calibrated mapping fitted on the val split.

Val scores are cut into ``NUM_BINS`` equal-count bins; each bin's empirical p10/p50/p90 of the true lengths are
made monotone across bins by isotonic regression per level (a higher score never predicts a longer answer), then
ordered across levels by a running maximum (p10 <= p50 <= p90; the maximum of non-increasing sequences is
non-increasing, so both orders hold), and a prompt's quantiles are linear interpolation between bin centres
(clamped at the ends), which keeps both: any score, however extreme, gives ordered quantiles. Stored in the
manifest under ``"quantiles"``; ``predict_quantiles`` works on every scorer kind that has it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltrsched.errors import UserError

LEVELS = (0.1, 0.5, 0.9)  # the quantiles predicted
NUM_BINS = 20  # equal-count score bins on val (fewer when val is small)
MIN_PER_BIN = 30  # rows per bin at least, so a bin's p10/p90 is an estimate, not an extreme


@dataclass(slots=True)
class QuantileMap:
    """Score -> length quantiles, piecewise linear."""

    levels: list[float]  # quantile levels, increasing
    centers: list[float]  # [bins] median val score of each bin, increasing
    values: list[list[float]]  # [bins][levels] output tokens, non-increasing down the bins

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """[n] scores -> [n, levels] output tokens (float64); nan/inf scores are clamped to the ends."""
        s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=self.centers[0])
        vals = np.asarray(self.values, dtype=np.float64)
        out = np.stack([np.interp(s, self.centers, vals[:, j]) for j in range(len(self.levels))], axis=1)
        return np.maximum.accumulate(out, axis=1)  # guards float rounding only: interpolation keeps the order

    def to_json(self) -> dict[str, Any]:
        return {"levels": self.levels, "centers": self.centers, "values": self.values}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> QuantileMap:
        return cls([float(x) for x in doc["levels"]], [float(x) for x in doc["centers"]],
                   [[float(v) for v in row] for row in doc["values"]])


def fit_quantile_map(scores: np.ndarray, output_lens: Sequence[int] | np.ndarray, num_bins: int = NUM_BINS,
                     levels: Sequence[float] = LEVELS) -> QuantileMap:
    """Fit on (val scores, true lengths); bins hold at least ``MIN_PER_BIN`` rows. Needs at least one row."""
    from sklearn.isotonic import IsotonicRegression

    s = np.asarray(scores, dtype=np.float64)
    lens = np.asarray(output_lens, dtype=np.float64)
    if len(s) == 0:
        raise ValueError("no rows to fit a quantile map on")
    big = float(np.finfo(np.float64).max)
    s = np.nan_to_num(s, nan=0.0, posinf=big, neginf=-big)
    order = np.argsort(s, kind="stable")
    parts = np.array_split(order, int(np.clip(len(s) // MIN_PER_BIN, 1, num_bins)))
    centers = np.array([np.median(s[p]) for p in parts])
    values = np.array([np.quantile(lens[p], levels) for p in parts])  # [bins, levels]
    sizes = np.array([len(p) for p in parts], dtype=np.float64)
    iso = IsotonicRegression(increasing=False)
    x = np.arange(len(parts), dtype=np.float64)
    values = np.stack([iso.fit_transform(x, values[:, j], sample_weight=sizes) for j in range(len(levels))], 1)
    values = np.maximum.accumulate(values, axis=1)  # max of non-increasing columns stays non-increasing
    keep = np.concatenate([[True], np.diff(centers) > 0])  # np.interp needs increasing centres
    return QuantileMap([float(x) for x in levels], centers[keep].tolist(), values[keep].tolist())


def load_quantile_map(ranker_dir: str | Path = "") -> QuantileMap:
    """A saved ranker's map, read from its manifest alone (no model load); "" = the default ranker's folder."""
    from ltrsched.paths import default_ranker_dir

    manifest = (Path(ranker_dir).expanduser() if ranker_dir else default_ranker_dir()) / "manifest.json"
    doc = json.loads(manifest.read_text()).get("quantiles") if manifest.is_file() else None
    if doc is None:
        why = "has no length quantiles (trained before they existed)" if manifest.is_file() else "is missing"
        raise UserError(f"{manifest} {why}: a quantile-reading policy needs a ranker folder with them; train one "
                        f"with `ltrsched train`")
    return QuantileMap.from_json(doc)


def add_quantiles(scorer: Any, val_scores: np.ndarray, output_lens: Sequence[int] | np.ndarray) -> None:
    """Fit the map on val and put it in ``scorer.manifest`` (saved with it)."""
    scorer.manifest["quantiles"] = fit_quantile_map(val_scores, output_lens).to_json()


def predict_quantiles(scorer: Any, prompts: Sequence[Any]) -> np.ndarray:
    """[n, 3] float64 (p10, p50, p90) output tokens for ``prompts`` from ``scorer``'s score."""
    doc = scorer.manifest.get("quantiles")
    if doc is None:
        raise UserError(f"ranker {scorer.name!r} has no length quantiles (trained before they existed); "
                        f"retrain it with `ltrsched train`")
    qmap = QuantileMap.from_json(doc)
    if len(prompts) == 0:
        return np.zeros((0, len(qmap.levels)))
    return qmap.predict(scorer.score(prompts))


def calibration(quantiles: np.ndarray, output_lens: Sequence[int] | np.ndarray,
                levels: Sequence[float] = LEVELS) -> dict[str, float]:
    """Share of true lengths at or below each predicted quantile (ideal: the level) and mean pinball loss
    (tokens; lower is better), per level."""
    y = np.asarray(output_lens, dtype=np.float64)
    out: dict[str, float] = {}
    for j, q in enumerate(levels):
        pred = quantiles[:, j]
        diff = y - pred
        out[f"below_p{round(q * 100)}"] = float(np.mean(y <= pred))
        out[f"pinball_p{round(q * 100)}"] = float(np.mean(np.maximum(q * diff, (q - 1) * diff)))
    return out
