"""The online tier: the fast ranker's features, trained one finished request at a time on the served model's
own lengths, as a correction to the shipped ranker's score.

By default (``residual`` 1) the model's predicted log length is ``x @ w - residual * shipped / sd(shipped)``: it
starts as the shipped ranker and learns, from hashed n-grams, what the shipped ranker gets wrong on this model's
traffic. A model of its own (``residual`` 0) had to outrank a ranker trained on 100k+ answers from scratch, and
stayed below it on SmolLM2's lengths; the correction was above it in 8 of 10 blocks of 200 requests, +0.017 in
2C - 1 on average, though not on the pairs per-token latency weighs most, which is why the blend's weight is
chosen on those (docs/results.md, 2026-12-07). Rows whose shipped score is unknown are not learned in this mode.

A pairwise logistic loss over the pairs a list decides (``predictor.censor``: the shorter side finished by itself
and is ``PAIR_RATIO`` times shorter, so sampling jitter between near-equal lengths is not learned), plain SGD on
lists of ``list_size`` recent rows replayed from a buffer. The four shape features (log chars, ...) are not
normalized like the hashed n-grams, so their steps are scaled down as if they were divided by ``SHAPE_SCALE``.
(AdaGrad was tried: its full-size first steps on rare n-grams left a planted rule at 0.8 AUC after 320 rows,
plain SGD at 0.99.) What scores is the running mean of the SGD iterates over the last ``average_steps`` steps
(Polyak-Ruppert averaging): a constant step keeps the last iterate jumping around the optimum, the mean settles on
it (on SmolLM2's stream: 98% of the offline fast tier's quality averaged over 2,000 rows, against 84% for the last
iterate; docs/results.md). A snapshot is a plain ``FastRanker``: it scores, saves and loads like the fast tier.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltrsched.errors import UserError
from ltrsched.predictor.censor import shorter_pairs
from ltrsched.predictor.fast import KIND, FastConfig, FastRanker

PAIR_RATIO = 1.2  # a pair trains only when the shorter output is at least this many times shorter
SHAPE_SCALE = 0.1  # shape features learn as if multiplied by this (they are ~5, a hashed row's norm is 1)
STATE_VERSION = 3  # bump when the saved layout changes (1: no averaged weights; 2: no residual; both still read)
LEARNING_RATE = 5.0  # the default SGD step (the plugin's online_learning_rate; a model of its own learns at ~50)
RESIDUAL = 1.0  # the default weight of the shipped score inside the model (the plugin's online_residual)


@dataclass(slots=True)
class OnlineConfig:
    """How the online tier reads prompts and learns."""

    n_features: int = 2**18  # hashed n-gram features (a power of two; the fast tier's default)
    learning_rate: float = LEARNING_RATE  # SGD step (the pairwise loss is a mean over a list's pairs)
    residual: float = RESIDUAL  # shipped score's weight in the model, per standard deviation (0: a model of its own)
    list_size: int = 32  # rows per update (pairs are formed within a list)
    buffer: int = 4096  # recent rows kept for replay
    passes: float = 4.0  # each new row is replayed in about this many lists
    average_steps: int = 1000  # scores use the mean iterate over this many recent SGD steps (0: the last one)
    seed: int = 0  # replay sampling


@dataclass(slots=True)
class OnlineSnapshot:
    """What scores while the learner goes on: frozen weights and the shipped scores' spread at that moment."""

    fast: FastRanker  # the hashed n-gram weights (scores -x @ w)
    residual: float  # the shipped score's weight, per standard deviation
    base_sd: float  # the shipped scores' standard deviation the model learned with

    def score(self, prompts: Sequence[Any], shipped: Sequence[float] | np.ndarray) -> np.ndarray:
        """[n] scores (higher = shorter) of prompts whose shipped ranker scored them ``shipped``."""
        own = np.asarray(self.fast.score(prompts), dtype=np.float64)
        if self.residual == 0.0:
            return own
        return own + self.residual * np.asarray(shipped, dtype=np.float64) / self.base_sd


class OnlineLinear:
    """Weights of a FastRanker (predicted log length per feature), updated by ``learn``; not thread-safe (one
    learner thread owns it; scorers read ``snapshot()`` copies)."""

    def __init__(self, cfg: OnlineConfig) -> None:
        self.cfg = cfg
        self.fast_cfg = FastConfig(n_features=cfg.n_features)
        self.coef = np.zeros(cfg.n_features + 4, dtype=np.float64)  # SGD iterate: predicted log length = x @ coef
        self.avg = self.coef.copy()  # the iterates' running mean (what scores when averaging is on)
        self.num_steps = 0  # SGD steps taken (the mean's weight)
        self.num_rows = 0  # rows learned from
        self._reader = FastRanker(self.fast_cfg, np.zeros(1, np.float32), 0.0, {})  # only its features()
        self._rows: deque[tuple[Any, int, bool, float]] = deque(maxlen=cfg.buffer)  # features [1, d], length,
        # censored, shipped score
        self.base_moments = np.zeros(3)  # shipped scores learned: count, mean, sum of squared deviations (Welford)
        self._rng = np.random.default_rng(cfg.seed)
        self._credit = 0.0  # lists owed to the rows seen (passes x rows / list_size, paid in whole steps)

    @property
    def weights(self) -> np.ndarray:
        """The weights that score: the averaged iterate, or the last one with ``average_steps`` 0."""
        return self.avg if self.cfg.average_steps > 0 else self.coef

    @property
    def base_sd(self) -> float:
        """Standard deviation of the shipped scores learned so far (1 before two)."""
        count, _, m2 = self.base_moments
        return float(np.sqrt(m2 / count)) if count >= 2 and m2 > 0 else 1.0

    def scores(self, x: Any, shipped: np.ndarray) -> np.ndarray:
        """[n] scores of feature rows (higher = shorter) whose shipped scores are ``shipped``."""
        return -np.asarray(x @ self.weights).ravel() + self.cfg.residual * shipped / self.base_sd

    def learn(self, texts: Sequence[str], lens: Sequence[int], censored: Sequence[bool],
              shipped: Sequence[float] | np.ndarray) -> np.ndarray:
        """Score the new rows with the model as it is (an honest, before-training score), then learn from them;
        ``shipped``: the shipped ranker's scores of these rows (read only with ``residual`` above 0)."""
        x = self._reader.features(list(texts))
        base = np.asarray(shipped, dtype=np.float64) if self.cfg.residual else np.zeros(len(lens))
        before = self.scores(x, base)
        for i, (n, c) in enumerate(zip(lens, censored, strict=True)):
            self._rows.append((x[i], int(n), bool(c), float(base[i])))
            self._count_base(float(base[i]))
        self.num_rows += len(lens)
        self._credit += self.cfg.passes * len(lens) / self.cfg.list_size
        while self._credit >= 1.0:
            self._credit -= 1.0
            self._step()
            time.sleep(0)  # let the engine's thread take the GIL between steps
        return before

    def _count_base(self, value: float) -> None:
        count, mean, m2 = self.base_moments
        count += 1
        delta = value - mean
        mean += delta / count
        self.base_moments = np.array([count, mean, m2 + delta * (value - mean)])

    def _step(self) -> None:
        """One SGD step on a random list of recent rows."""
        import scipy.sparse as sp

        size = min(self.cfg.list_size, len(self._rows))
        if size < 2:
            return
        picked = [self._rows[i] for i in self._rng.choice(len(self._rows), size, replace=False)]
        lens = np.array([r[1] for r in picked], dtype=np.float64)
        mask = shorter_pairs(lens * PAIR_RATIO, np.array([r[2] for r in picked]))
        if not mask.any():
            return
        x = sp.vstack([r[0] for r in picked], format="csr")
        base = np.array([r[3] for r in picked]) * (self.cfg.residual / self.base_sd)
        f = np.asarray(x @ self.coef).ravel() - base  # want f_i < f_j on every decided pair (i shorter)
        g = mask / (1.0 + np.exp(-(f[:, None] - f[None, :]))) / mask.sum()  # d softplus(f_i - f_j)
        grad = np.asarray(x.T @ (g.sum(axis=1) - g.sum(axis=0))).ravel()
        grad[self.cfg.n_features:] *= SHAPE_SCALE ** 2
        self.coef -= self.cfg.learning_rate * grad
        self._average()

    def _average(self) -> None:
        """Fold the new iterate into the mean: uniform over all steps up to ``average_steps``, then a moving mean
        over about that many (so a long-lived server still follows a drifting model)."""
        self.num_steps += 1
        if self.cfg.average_steps > 0:
            self.avg += (self.coef - self.avg) / min(self.num_steps, self.cfg.average_steps)

    def snapshot(self) -> OnlineSnapshot:
        """A copy that scores as the model does now (the learner keeps changing its own weights)."""
        manifest = {"kind": KIND, "name": "online", "config": asdict(self.fast_cfg),
                    "data": {"online_rows": self.num_rows}}
        return OnlineSnapshot(FastRanker(self.fast_cfg, self.weights, 0.0, manifest), self.cfg.residual,
                              self.base_sd)

    def state(self) -> dict[str, Any]:
        """Arrays and counts to save (the replay buffer is not kept: it refills from new rows)."""
        meta = {"version": STATE_VERSION, "config": asdict(self.cfg), "num_rows": self.num_rows,
                "num_steps": self.num_steps, "base_moments": self.base_moments.tolist()}
        return {"coef": self.coef, "avg": self.avg, "meta": meta}

    def restore(self, coef: np.ndarray, avg: np.ndarray | None, meta: dict[str, Any], where: str) -> None:
        """Load saved weights (a version-1 file has no mean: it starts from its last iterate; versions 1 and 2 are
        models of their own, residual 0); a file from another feature size, residual or version is refused with
        its name."""
        saved = meta.get("config", {}).get("n_features")
        if meta.get("version") not in (1, 2, STATE_VERSION) or saved != self.cfg.n_features or \
                coef.shape != self.coef.shape or (avg is not None and avg.shape != coef.shape):
            raise UserError(f"{where}: saved for n_features={saved} (state version {meta.get('version')}), not "
                            f"{self.cfg.n_features} (version {STATE_VERSION}); delete the file or set the same "
                            "online_n_features")
        residual = float(meta.get("config", {}).get("residual", 0.0))
        if residual != self.cfg.residual:
            raise UserError(f"{where}: saved with online_residual {residual:g}, not {self.cfg.residual:g} (its "
                            "weights learn a different thing); delete the file or set the same online_residual")
        self.coef = coef.astype(np.float64)
        self.avg = (coef if avg is None else avg).astype(np.float64)
        self.num_rows = int(meta.get("num_rows", 0))
        self.num_steps = int(meta.get("num_steps", 0))
        self.base_moments = np.array(meta.get("base_moments", [0.0, 0.0, 0.0]), dtype=np.float64)


def save_state(path: str | Path, model: OnlineLinear, extra: dict[str, Any]) -> Path:
    """One .npz holding the weights and a JSON header (``extra``: the blend), written aside and renamed over."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = model.state()
    meta = json.dumps({**state["meta"], **extra})
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, coef=state["coef"], avg=state["avg"], meta=np.array(meta))
    tmp.replace(path)
    return path


def load_state(path: str | Path, model: OnlineLinear) -> dict[str, Any]:
    """Restore ``model`` from ``path``; returns the header (with what ``save_state`` was given as ``extra``)."""
    path = Path(path).expanduser()
    try:
        with np.load(path, allow_pickle=False) as data:
            coef, meta = data["coef"], json.loads(str(data["meta"]))
            avg = data["avg"] if "avg" in data.files else None
    except (OSError, KeyError, ValueError) as exc:
        raise UserError(f"{path}: not an online-ranker state file ({exc}); delete it to start afresh") from None
    model.restore(coef, avg, meta, str(path))
    return dict(meta)
