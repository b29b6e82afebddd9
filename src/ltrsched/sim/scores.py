"""Ranker scores for a workload (higher = shorter expected output): a trained ranker, or a noise model of chosen tau.

``ranker`` / ``ranker:PATH`` score each prompt once and cache the scores by a hash of the ranker and the prompts;
``tau:X`` draws scores whose Kendall tau with the true lengths is about X (a Gaussian copula: correlation
sin(pi X / 2) between normal scores of the true rank and the score); ``oracle`` is minus the true length;
``none`` is all zeros. A missing ranker is an error that says how to train it: never a silent fallback.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ltrsched.errors import UserError
from ltrsched.paths import cache_dir
from ltrsched.sim.workload import WorkItem

SCORE_KINDS = ("ranker", "ranker:PATH", "tau:X", "oracle", "none")


def tau_scores(lengths: Sequence[int], tau: float, seed: int = 0) -> np.ndarray:
    """Scores whose Kendall tau with ``-lengths`` is about ``tau`` (exact in expectation for untied lengths)."""
    if not -1.0 <= tau <= 1.0:
        raise UserError(f"tau must be in [-1, 1], got {tau}")
    from scipy.stats import norm, rankdata

    rng = np.random.default_rng(seed)
    n = len(lengths)
    if n == 0:
        return np.zeros(0)
    # Normal scores of the truth (shorter = higher); ties broken at random so they do not bias tau.
    order = rankdata(-np.asarray(lengths, dtype=float) + rng.uniform(0, 1e-6, n))
    z = norm.ppf(order / (n + 1))
    rho = float(np.sin(np.pi * tau / 2))
    return rho * z + np.sqrt(max(1.0 - rho * rho, 0.0)) * rng.standard_normal(n)


def _ranker_scores(items: Sequence[WorkItem], path: str | None, progress: bool) -> np.ndarray:
    from ltrsched.paths import default_ranker_dir
    from ltrsched.predictor import default_ranker, load_ranker
    from ltrsched.predictor.ranker import scoring_int8

    missing = [it.id for it in items if it.prompt is None]
    if missing:
        raise UserError(f"--scores ranker needs prompt texts, but {len(missing)} requests (e.g. {missing[0]}) have "
                        f"none (trace data has lengths only); use --scores tau:X or --data sharegpt")
    where = Path(path) if path else default_ranker_dir()
    manifest = where / "manifest.json"
    h = hashlib.sha256()
    h.update(str(where.resolve()).encode())
    h.update(manifest.read_bytes() if manifest.is_file() else b"")
    h.update(b"int8" if scoring_int8() else b"fp32")  # the two precisions score slightly differently
    for it in items:
        h.update(json.dumps(it.prompt, sort_keys=True).encode())
        h.update(b"\0")
    cache = cache_dir() / "scores" / f"{h.hexdigest()[:24]}.npy"
    if cache.is_file():
        return np.load(cache)
    scorer = load_ranker(where) if path else default_ranker()  # MissingModelError says how to train it
    if progress:
        print(f"ltrsched: scoring {len(items)} prompts with {getattr(scorer, 'name', where)} (cached afterwards)",
              file=sys.stderr, flush=True)
    keys = [json.dumps(it.prompt, sort_keys=True) for it in items]
    unique = list(dict.fromkeys(keys))  # repeated prompts (cycled data) are scored once
    prompts = {k: it.prompt for k, it in zip(keys, items, strict=True)}
    scored = dict(zip(unique, np.asarray(scorer.score([prompts[k] for k in unique]), dtype=float), strict=True))
    scores = np.array([scored[k] for k in keys], dtype=float)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, scores)
    tmp.replace(cache)
    return scores


def make_scores(spec: str, items: Sequence[WorkItem], seed: int = 0, progress: bool = True) -> np.ndarray:
    """Scores for ``items`` by ``spec`` (see the module docstring)."""
    lengths = [it.output_len for it in items]
    if spec == "none":
        return np.zeros(len(items))
    if spec == "oracle":
        return -np.asarray(lengths, dtype=float)
    if spec.startswith("tau:"):
        try:
            tau = float(spec[4:])
        except ValueError:
            raise UserError(f"--scores {spec!r}: write tau:X with X a number in [-1, 1], e.g. tau:0.5") from None
        return tau_scores(lengths, tau, seed)
    if spec == "ranker" or spec.startswith("ranker:"):
        return _ranker_scores(items, spec[7:] or None, progress)
    raise UserError(f"unknown --scores {spec!r}; use one of {', '.join(SCORE_KINDS)}")


def kendall_tau(scores: Sequence[float] | np.ndarray, lengths: Sequence[int]) -> float:
    """Kendall tau-b between scores and the true order (shorter = higher), as the paper reports it."""
    from scipy.stats import kendalltau

    if len(lengths) < 2:
        return float("nan")
    return float(kendalltau(np.asarray(scores), -np.asarray(lengths, dtype=float)).statistic)


def make_quantiles(spec: str, items: Sequence[WorkItem], scores: np.ndarray, seed: int = 0) -> np.ndarray:
    """[n, 3] predicted (p10, p50, p90) output tokens for ``scores`` drawn by ``spec``, for quantile-reading policies.

    ``ranker``: the ranker's own calibrated map (fitted on its val split). ``tau:X`` / ``none``: a map fitted on an
    independent draw of the same noise model (another seed) over the workload's lengths, as a deployment fits
    one on held-out rows; it never sees these scores' pairing with the truth. ``oracle``: the true length, thrice.
    """
    from ltrsched.predictor.quantiles import fit_quantile_map, load_quantile_map

    lengths = np.asarray([it.output_len for it in items], dtype=np.float64)
    if spec == "oracle":
        return np.repeat(lengths[:, None], 3, axis=1)
    if spec == "ranker" or spec.startswith("ranker:"):
        return load_quantile_map(spec[7:]).predict(scores)
    calib = make_scores(spec, items, seed + 1, progress=False)
    return fit_quantile_map(calib, lengths).predict(scores)

