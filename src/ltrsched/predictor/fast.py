"""The fast CPU tier: a linear ranker over hashed word n-grams and a few prompt-shape features.

No vocabulary to store (feature hashing: ``predictor.hashing``, scikit-learn's HashingVectorizer in numpy, so scoring
imports no scikit-learn), one sparse dot product per prompt, ridge regression on log output length; alpha picked on
the val split. A censored training row (its length a lower bound) is fitted at its bound or at what a fit on the
finished rows alone predicts for it, whichever is longer: a bound never pulls a prediction below it, and a group of
prompts that are always cut is not learned as short. Same API as the transformer ranker (``score``, ``save``,
``load``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ltrsched.predictor.data import LengthExample
from ltrsched.predictor.hashing import hash_rows
from ltrsched.predictor.prompts import head_tail, normalize

KIND = "fast-linear"  # manifest "kind" that load_ranker dispatches on


@dataclass(slots=True)
class FastConfig:
    """How the fast tier reads a prompt and fits."""

    n_features: int = field(default=2**18, metadata={"help": "hashed n-gram features (a power of two)"})
    max_chars: int = field(default=300, metadata={"help": "characters of each prompt read from its start (head)"})
    tail_chars: int = field(default=0, metadata={"help": "characters also read from the prompt's end (0: head only)"})
    full_shape: bool = field(default=False, metadata={
        "help": "shape features (log chars, spaces, lines) of the whole prompt, not of the part read"})
    ngram_max: int = field(default=2, metadata={"help": "longest word n-gram"})
    alphas: list[float] = field(default_factory=lambda: [0.3, 1.0, 3.0],
                                metadata={"help": "ridge strengths tried; the best val tau wins"})
    prompt_format: str = field(default="last-user", metadata={"help": "last-user or all (see predictor/prompts.py)"})


def shape_features(texts: Sequence[str]) -> np.ndarray:
    """[n, 4] dense features: log chars, log spaces, log lines, code-like characters per 100 chars."""
    out = np.empty((len(texts), 4), dtype=np.float32)
    out[:, 0] = [len(t) for t in texts]
    out[:, 1] = [t.count(" ") for t in texts]
    out[:, 2] = [t.count("\n") for t in texts]
    out[:, 3] = [t.count("{") + t.count(";") for t in texts]
    out[:, 3] *= 100.0 / (out[:, 0] + 1.0)
    np.log1p(out[:, :3], out=out[:, :3])
    return out


def _fit(alpha: float, x: Any, y: np.ndarray, censored: np.ndarray) -> Any:
    """Ridge on log length; censored targets raised to a finished-rows-only fit's prediction where it is longer."""
    from sklearn.linear_model import Ridge

    if not censored.any() or censored.all():
        return Ridge(alpha=alpha, solver="sparse_cg").fit(x, y)
    exact = np.flatnonzero(~censored)
    first = Ridge(alpha=alpha, solver="sparse_cg").fit(x[exact], y[exact])
    return Ridge(alpha=alpha, solver="sparse_cg").fit(x, np.where(censored, np.maximum(y, first.predict(x)), y))


class FastRanker:
    """Hashed n-grams + shape features -> ridge on log length; score = -prediction (higher = shorter)."""

    def __init__(self, cfg: FastConfig, coef: np.ndarray, intercept: float, manifest: dict[str, Any]) -> None:
        self.cfg = cfg
        self.coef = coef.astype(np.float32)  # [n_features + 4]
        self.intercept = float(intercept)
        self.manifest = manifest
        self.name = str(manifest.get("name", KIND))
        self._lock = threading.Lock()  # held only to read the coefficients consistently

    def _read(self, prompts: Sequence[Any]) -> tuple[list[str], np.ndarray]:
        """(the text read per prompt: head, or head + tail; [n, 4] shape features)."""
        fmt = self.cfg.prompt_format
        full = [p.strip() if isinstance(p, str) and "<|" not in p and "[INST]" not in p else normalize(p, fmt)
                for p in prompts]
        texts = [head_tail(t, self.cfg.max_chars, self.cfg.tail_chars) for t in full]
        return texts, shape_features(full if self.cfg.full_shape else texts)

    def features(self, prompts: Sequence[Any]) -> Any:
        """[n, n_features + 4] sparse CSR (training only; scoring needs no scipy)."""
        import scipy.sparse as sp

        texts, dense = self._read(prompts)
        h = hash_rows(texts, self.cfg.n_features, self.cfg.ngram_max)
        sparse = sp.csr_matrix((h.values, (h.rows, h.indices)), shape=(h.n_rows, self.cfg.n_features))
        return sp.hstack([sparse, dense], format="csr")

    def score(self, prompts: Sequence[Any]) -> np.ndarray:
        """[n] float32 scores, higher = shorter expected output. Empty input gives an empty array."""
        if len(prompts) == 0:
            return np.zeros(0, dtype=np.float32)
        texts, dense = self._read(prompts)
        h = hash_rows(texts, self.cfg.n_features, self.cfg.ngram_max)
        nf = self.cfg.n_features
        with self._lock:
            sparse = np.bincount(h.rows, weights=h.values * self.coef[h.indices], minlength=h.n_rows)
            pred = sparse.astype(np.float32) + dense @ self.coef[nf:] + self.intercept
        return (-pred).astype(np.float32)

    def predict_quantiles(self, prompts: Sequence[Any]) -> np.ndarray:
        """[n, 3] (p10, p50, p90) output tokens, from the score through the manifest's val-fitted mapping."""
        from ltrsched.predictor.quantiles import predict_quantiles

        return predict_quantiles(self, prompts)

    @classmethod
    def train(cls, train: list[LengthExample], val: list[LengthExample], cfg: FastConfig | None = None,
              name: str = KIND) -> FastRanker:
        from ltrsched.predictor.metrics import mean_list_tau
        from ltrsched.predictor.quantiles import add_quantiles

        cfg = cfg or FastConfig()
        probe = cls(cfg, np.zeros(cfg.n_features + 4, np.float32), 0.0, {})
        x_tr = probe.features([e.prompt for e in train])
        y_tr = np.log1p(np.array([e.output_len for e in train], dtype=np.float64))
        x_va = probe.features([e.prompt for e in val])
        censored = np.array([e.censored for e in train], dtype=bool)
        best: tuple[float, float, Any] = (-2.0, 0.0, None)
        for alpha in cfg.alphas:
            model = _fit(alpha, x_tr, y_tr, censored)
            tau = mean_list_tau(-model.predict(x_va), [e.output_len for e in val], censored=[e.censored for e in val])
            if best[2] is None or tau > best[0]:  # a val split under one list gives nan: keep the first
                best = (tau, alpha, model)
        tau, alpha, model = best
        manifest = {"kind": KIND, "name": name, "config": asdict(cfg), "alpha": alpha,
                    "data": {"train": len(train), "val": len(val), "train_censored": int(censored.sum())},
                    "metrics": {"val_tau": tau}}
        fast = cls(cfg, np.asarray(model.coef_, np.float32), float(model.intercept_), manifest)
        add_quantiles(fast, fast.score([e.prompt for e in val]), [e.output_len for e in val])
        return fast

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path / "weights.npz", coef=self.coef, intercept=np.array([self.intercept]))
        (path / "manifest.json").write_text(json.dumps(self.manifest, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> FastRanker:
        from ltrsched.predictor.ranker import read_manifest

        path = Path(path)
        manifest = read_manifest(path, KIND, "FastRanker.load")
        weights = np.load(path / "weights.npz")
        return cls(FastConfig(**manifest["config"]), weights["coef"], float(weights["intercept"][0]), manifest)
