"""Blending the shipped ranker with the online one, by a weight chosen on recent served rows.

Each finished row keeps the shipped ranker's score and the online model's score from before it learned that row
(an honest, out-of-sample pair). A weight in ``WEIGHTS`` is judged by its gain over the shipped ranker on the
window's decided pairs, each pair weighted by what serving it in the wrong order costs mean per-token latency
(``interchange_cost``), less ``margin_z`` standard errors of that gain (a delete-one-row jackknife: the pairs share
rows, so they are not independent); the weight with the highest such lower bound wins, and 0 (the shipped ranker)
unless some bound is above zero. Plain concordance counts every pair alike: a blend that ordered the long answers
better and the short ones worse won on it and lost 10% of per-token latency on the engine (docs/results.md,
2026-12-07); without the margin, a noisy 512-row window handed a weaker online tier a quarter of every score
(2026-12-04). The online score is mapped onto the shipped scale first (matching mean and spread over the window),
so weight 0 is exactly the shipped ranker and the queue's older scores stay comparable.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ltrsched.predictor.censor import concordance, shorter_pairs

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)  # candidate shares of the online model
MARGIN_Z = 2.0  # standard errors by which a blend must beat the shipped ranker on the window to get any weight


@dataclass(slots=True, frozen=True)
class Blend:
    """What scoring reads, swapped whole by one reference assignment: never half an update."""

    weight: float = 0.0  # share of the online model (0: the shipped ranker alone)
    shift: float = 0.0  # online score on the shipped scale = shift + scale * online
    scale: float = 0.0
    model: Any = None  # the online snapshot (``online.OnlineSnapshot``), None before any
    concordance: float = 0.5  # the chosen blend's pairwise accuracy on the window (reported)
    num_rows: int = 0  # rows the online model had learned from when this was published

    def combine(self, shipped: np.ndarray, prompts: Sequence[Any]) -> np.ndarray:
        """The scores to rank by: the shipped ones when the weight is 0, else the blend."""
        if self.weight <= 0.0 or self.model is None:
            return shipped
        online = self.shift + self.scale * self.model.score(prompts, shipped)
        return (1.0 - self.weight) * shipped + self.weight * online


def interchange_cost(lens: np.ndarray) -> np.ndarray:
    """[n, n]: for i shorter than j, what serving j before i adds to the two requests' per-token latencies, in
    steps: i waits about len_j more steps over its len_i tokens, j about len_i fewer over its len_j
    (len_j / len_i - len_i / len_j; a capped length is its lower bound). Negative where i is the longer one."""
    n = np.maximum(np.asarray(lens, dtype=np.float64), 1.0)
    return n[None, :] / n[:, None] - n[:, None] / n[None, :]


def paired_gain(candidate: np.ndarray, shipped: np.ndarray, lens: np.ndarray, censored: np.ndarray,
                ratio: float = 1.0, weighted: bool = False) -> tuple[float, float]:
    """(gain, standard error): ``candidate``'s concordance minus ``shipped``'s over the same decided pairs (with
    ``weighted``, each pair counted by its ``interchange_cost``), and the delete-one-row jackknife's standard
    error of that difference ([n] arrays; higher score = shorter)."""
    mask = shorter_pairs(np.asarray(lens, dtype=np.float64) * ratio, np.asarray(censored, dtype=bool))
    if not mask.any():
        return 0.0, 0.0
    weight = np.where(mask, interchange_cost(lens), 0.0) if weighted else mask.astype(np.float64)

    def right(s: np.ndarray) -> np.ndarray:  # [n, n]: 1 when i (shorter) is scored shorter, 0.5 on a tie
        gap = s[:, None] - s[None, :]
        return (gap > 0) + 0.5 * (gap == 0)

    diff = weight * (right(np.asarray(candidate, np.float64)) - right(np.asarray(shipped, np.float64)))
    total, total_weight = float(diff.sum()), float(weight.sum())
    per_row = diff.sum(axis=0) + diff.sum(axis=1)  # each row's pairs (a row is never paired with itself)
    left = total_weight - (weight.sum(axis=0) + weight.sum(axis=1))
    leave_one_out = np.where(left > 0, (total - per_row) / np.where(left > 0, left, 1.0), total / total_weight)
    n = len(leave_one_out)
    var = (n - 1) / n * float(((leave_one_out - leave_one_out.mean()) ** 2).sum())
    return total / total_weight, var ** 0.5


def choose(shipped: np.ndarray, online: np.ndarray, lens: np.ndarray, censored: np.ndarray,
           ratio: float = 1.0, margin_z: float = MARGIN_Z) -> tuple[float, float, float, float]:
    """(weight, shift, scale, concordance) for a window of rows' shipped and online scores: the weight whose
    latency-weighted gain over the shipped ranker, less ``margin_z`` standard errors, is highest and above zero;
    else 0. The concordance reported is the chosen blend's plain one."""
    s_sd, o_sd = float(shipped.std()) or 1.0, float(online.std())  # a constant shipped ranker: unit spread
    scale = s_sd / o_sd if o_sd > 0 else 0.0
    shift = float(shipped.mean()) - scale * float(online.mean())
    mapped = shift + scale * online
    best_w, best_bound = 0.0, 0.0
    for w in WEIGHTS[1:] if scale > 0 else ():
        gain, se = paired_gain((1.0 - w) * shipped + w * mapped, shipped, lens, censored, ratio, weighted=True)
        if gain - margin_z * se > best_bound:
            best_w, best_bound = w, gain - margin_z * se
    chosen = (1.0 - best_w) * shipped + best_w * mapped
    return best_w, shift, scale, concordance(chosen, lens, censored, ratio)


def blend_on_window(window: Sequence[tuple[float, float, int, bool]], min_rows: int, model: Any,
                    ratio: float = 1.0, margin_z: float = MARGIN_Z) -> Blend:
    """The Blend to publish: the weight chosen on ``window`` rows (shipped score, online score before learning the
    row, length, censored), or the shipped ranker alone below ``min_rows``; ``model`` is the ``OnlineLinear``."""
    weight, shift, scale, conc = 0.0, 0.0, 0.0, 0.5
    if len(window) >= min_rows:
        s, o, n, c = (np.array(col) for col in zip(*window, strict=True))
        weight, shift, scale, conc = choose(s, o, n, c.astype(bool), ratio, margin_z)
    return Blend(weight, shift, scale, model.snapshot(), conc, model.num_rows)


def learn_and_blend(model: Any, window: deque[tuple[float, float, int, bool]], texts: Sequence[str],
                    lens: Sequence[int], censored: Sequence[bool], shipped: Sequence[float | None], min_rows: int,
                    ratio: float = 1.0, margin_z: float = MARGIN_Z) -> Blend:
    """The one online update the plugin's learner and ``bench online-curve``'s replay both run: ``model`` (an
    ``OnlineLinear``) learns the finished rows, each first scored by the model as it stood (out of sample); rows
    whose shipped score is known join ``window``; the Blend to publish is chosen on it. A model that corrects the
    shipped score (``residual`` above 0) learns only those rows."""
    if model.cfg.residual:
        keep = [i for i, s in enumerate(shipped) if s is not None]
        texts, lens = [texts[i] for i in keep], [lens[i] for i in keep]
        censored, shipped = [censored[i] for i in keep], [shipped[i] for i in keep]
    before = model.learn(texts, lens, censored, [s or 0.0 for s in shipped])  # a model of its own ignores them
    for s, o, n, c in zip(shipped, before, lens, censored, strict=True):
        if s is not None:
            window.append((float(s), float(o), int(n), bool(c)))
    return blend_on_window(window, min_rows, model, ratio, margin_z)


def to_header(blend: Blend, window: Sequence[tuple[float, float, int, bool]]) -> dict[str, Any]:
    """The blend and its window as a saved state's header (``online.save_state``'s ``extra``)."""
    return {"blend": {"weight": blend.weight, "shift": blend.shift, "scale": blend.scale,
                      "concordance": blend.concordance}, "window": [list(row) for row in window]}


def from_header(meta: dict[str, Any], model: Any) -> tuple[Blend, list[tuple[float, float, int, bool]]]:
    """The Blend and window rows a header saved (``model``: the restored ``OnlineLinear``); what ``to_header``
    wrote, so a restart ranks as the engine did before it."""
    b = meta.get("blend", {})
    window = [(float(s), float(o), int(n), bool(c)) for s, o, n, c in meta.get("window", [])]
    blend = Blend(float(b.get("weight", 0.0)), float(b.get("shift", 0.0)), float(b.get("scale", 0.0)),
                  model.snapshot(), float(b.get("concordance", 0.5)), model.num_rows)
    return blend, window
