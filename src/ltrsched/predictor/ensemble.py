"""A weighted sum of standardized member scores (e.g. the transformer ranker + the fast tier).

Members make different mistakes (the fast tier sees word n-grams of long prompts that the encoder cuts off), so
a blend ranks better than either. Each member's scores are standardized with its val-split mean and std; the
weights are picked on val, never on test.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ltrsched.predictor.data import LengthExample
from ltrsched.predictor.metrics import mean_list_tau

KIND = "ensemble"


class EnsembleRanker:
    """``score = sum_i w_i * (s_i - mean_i) / std_i``; higher = shorter, like every member."""

    def __init__(self, members: list[Any], weights: list[float], stats: list[tuple[float, float]],
                 manifest: dict[str, Any]) -> None:
        self.members = members  # loaded rankers
        self.weights = weights  # one per member
        self.stats = stats  # (mean, std) of each member's val scores
        self.manifest = manifest
        self.name = str(manifest.get("name", KIND))

    def score(self, prompts: Sequence[Any]) -> np.ndarray:
        total = np.zeros(len(prompts), dtype=np.float64)
        if len(prompts) == 0:
            return total.astype(np.float32)
        for member, w, (mu, sd) in zip(self.members, self.weights, self.stats, strict=True):
            total += w * (member.score(prompts).astype(np.float64) - mu) / sd
        return total.astype(np.float32)

    def predict_quantiles(self, prompts: Sequence[Any]) -> np.ndarray:
        """[n, 3] (p10, p50, p90) output tokens, from the blended score through the val-fitted mapping."""
        from ltrsched.predictor.quantiles import predict_quantiles

        return predict_quantiles(self, prompts)

    @classmethod
    def fit(cls, paths: Sequence[str | Path], val: list[LengthExample], name: str = KIND,
            grid: Sequence[float] = tuple(np.linspace(0, 1, 21))) -> EnsembleRanker:
        """Two members: the weight of the first is chosen on ``val`` from ``grid`` (the second gets 1 - w)."""
        from ltrsched.predictor import load_ranker

        if len(paths) != 2:
            raise ValueError("an ensemble is fitted over exactly two members")
        members = [load_ranker(p) for p in paths]
        lens = [e.output_len for e in val]
        raw = [m.score([e.prompt for e in val]).astype(np.float64) for m in members]
        stats = [(float(r.mean()), float(r.std() or 1.0)) for r in raw]
        z = [(r - mu) / sd for r, (mu, sd) in zip(raw, stats, strict=True)]
        taus = [(mean_list_tau(w * z[0] + (1 - w) * z[1], lens), float(w)) for w in grid]
        best_tau, w = max(taus)
        manifest = {"kind": KIND, "name": name, "members": [str(Path(p).resolve()) for p in paths],
                    "member_names": [m.name for m in members],
                    "weights": [w, 1 - w], "stats": stats, "metrics": {"val_tau": best_tau},
                    "loss": "ensemble"}
        from ltrsched.predictor.quantiles import add_quantiles

        ensemble = cls(members, [w, 1 - w], stats, manifest)
        add_quantiles(ensemble, w * z[0] + (1 - w) * z[1], lens)
        return ensemble

    def save(self, path: str | Path) -> Path:
        """Members inside ``path`` are stored by relative path, so the folder can move as one piece."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        root = path.resolve()
        self.manifest["members"] = [str(Path(m).relative_to(root)) if Path(m).is_relative_to(root) else m
                                    for m in self.manifest["members"]]
        (path / "manifest.json").write_text(json.dumps(self.manifest, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> EnsembleRanker:
        from ltrsched.predictor import load_ranker
        from ltrsched.predictor.ranker import read_manifest

        manifest = read_manifest(Path(path), KIND, "EnsembleRanker.load")
        members = [load_ranker(Path(path) / p, device) for p in manifest["members"]]  # absolute p stays absolute
        return cls(members, list(manifest["weights"]), [tuple(s) for s in manifest["stats"]], manifest)
