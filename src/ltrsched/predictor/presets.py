"""Named training set-ups: ``demo`` (minutes), ``default`` (the CPU ranker), ``full`` (longer), ``fast`` (fast tier).

Every preset trains on the ShareGPT train split with the rows that repeat a val or test prompt removed
(``leakage.dedup_splits``), selects on val, and never reads test except to find those repeats.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ltrsched.predictor.data import LengthExample, load_sharegpt
from ltrsched.predictor.fast import FastConfig, FastRanker
from ltrsched.predictor.model import ModelConfig
from ltrsched.predictor.train import TrainConfig, train_ranker


@dataclass(slots=True, frozen=True)
class Preset:
    """Overrides of the dataclass defaults for one named set-up."""

    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields of the transformer member
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields of the transformer member
    fast: dict[str, Any] = field(default_factory=dict)  # FastConfig fields of the fast tier
    transformer: bool = True  # False: the fast tier alone; True: transformer + fast tier, saved as their ensemble
    turns: str = "first"  # ShareGPT train turns when the caller leaves --turns at "first": first or all


_FAST_HEAD_TAIL = {"max_chars": 300, "tail_chars": 0}  # the fast tier stays head-only: no tail won on val
PRESETS: dict[str, Preset] = {
    # MiniLM fine-tuned for ~4 min (about 70 lists of 32) + the fast tier: ~6 min cold on 2 cores. The 128-token
    # window reads the first 62 and the last 64 tokens of a longer prompt (docs/results.md, "Ranker 2.0", section 3)
    "demo": Preset({"head_epochs": 0, "epochs": 1, "train_layers": -1, "lr": 8e-5, "eval_every": 35,
                    "max_minutes": 4.0}, {"max_len": 128, "tail_tokens": 64}, _FAST_HEAD_TAIL),
    # MiniLM fine-tuned (all layers) for one epoch of the train split, ~20 min on 2 cores, + the fast tier
    "default": Preset({"head_epochs": 0, "epochs": 1, "train_layers": -1, "lr": 8e-5, "eval_every": 70,
                       "max_minutes": 20.0}, {"max_len": 128, "tail_tokens": 64}, _FAST_HEAD_TAIL),
    # Several epochs over every human->gpt turn, a 256-token window (first 127 + last 128 tokens): what section 5 of
    # docs/results.md ("Ranker 2.0") says would close the gap, bounded at 90 min on 2 cores (minutes on a GPU with
    # --device cuda). Saved to ~/.cache/ltrsched/models/full; serve it with the plugin key ``ranker``.
    "full": Preset({"head_epochs": 0, "epochs": 3, "train_layers": -1, "lr": 5e-5, "eval_every": 140,
                    "max_minutes": 90.0}, {"max_len": 256, "tail_tokens": 128}, _FAST_HEAD_TAIL, turns="all"),
    "fast": Preset(fast=_FAST_HEAD_TAIL, transformer=False),
}


def _over(obj: Any, over: dict[str, Any], default: Any) -> Any:
    return replace(obj, **{k: v for k, v in over.items() if getattr(obj, k) == getattr(default, k)})


def apply_preset(name: str | None, train_cfg: TrainConfig, model_cfg: ModelConfig,
                 fast_cfg: FastConfig | None = None) -> tuple[TrainConfig, ModelConfig, FastConfig]:
    """Preset values for every field still at its dataclass default (explicit flags win)."""
    fast_cfg = fast_cfg or FastConfig()
    if not name:
        return train_cfg, model_cfg, fast_cfg
    p = PRESETS[name]
    return (_over(train_cfg, p.train, TrainConfig()), _over(model_cfg, p.model, ModelConfig()),
            _over(fast_cfg, p.fast, FastConfig()))


def clean_splits(train: list[LengthExample], val: list[LengthExample], test: list[LengthExample],
                 ) -> tuple[list[LengthExample], list[LengthExample], dict[str, Any]]:
    """Train and val without repeats of test (and train without repeats of val); the counts, said on stderr."""
    from ltrsched.predictor.leakage import dedup_splits

    train, val, reports = dedup_splits(train, val, test)
    counts = {f"{r.split}_vs_{r.against}": {"identical": r.num_identical, "near": r.num_near} for r in reports}
    said = ", ".join(f"{k.replace('_vs_', ' repeating ')} {v['identical']} identical + {v['near']} near"
                     for k, v in counts.items())
    print(f"ltrsched train: removed leaks: {said}", file=sys.stderr, flush=True)
    return train, val, {"removed_leaks": counts}


def train_preset(name: str, out: str | Path, progress: bool = True, limit: int | None = None,
                 train_cfg: TrainConfig | None = None, model_cfg: ModelConfig | None = None,
                 fast_cfg: FastConfig | None = None, turns: str = "first",
                 splits: tuple[list[LengthExample], list[LengthExample], dict[str, Any]] | None = None) -> Any:
    """Train a preset and save it to ``out``: demo/default hold ``out/minilm`` (transformer), ``out/fast`` (fast
    tier) and, in ``out``, their ensemble. The data: ShareGPT (train split, ``turns`` "first" or "all"; val = first
    turns for model selection), or ``splits`` = (train, val, data note), e.g. a served model's own labels, so a
    ranker trained on them has the shipped ranker's architecture.
    """
    from ltrsched.predictor.ensemble import EnsembleRanker

    out = Path(out)
    turns = PRESETS[name].turns if turns == "first" else turns
    t, m, f = apply_preset(name, train_cfg or TrainConfig(), model_cfg or ModelConfig(), fast_cfg)
    if splits is None:
        train, val, leaks = clean_splits(load_sharegpt("train", turns=turns, limit=limit), load_sharegpt("val"),
                                         load_sharegpt("test"))
        splits = train, val, {"source": "sharegpt", "turns": turns, "tokenizer": "llama3", **leaks}
    train, val, note = splits
    fast_dir = out if not PRESETS[name].transformer else out / "fast"
    fast = FastRanker.train(train, val, f, name="fast-linear")
    fast.manifest["data"].update(note)
    fast.save(fast_dir)
    if not PRESETS[name].transformer:
        return fast
    train_ranker(train, val, t, m, out / "minilm", name=f"{name}-minilm-{t.loss}", progress=progress, data_note=note)
    ensemble = EnsembleRanker.fit([out / "minilm", fast_dir], val, name=f"{name}-ensemble")
    ensemble.manifest["data"] = {"train": len(train), "val": len(val), **note}
    ensemble.save(out)
    print(f"ltrsched train: ensemble val tau {ensemble.manifest['metrics']['val_tau']:.4f} "
          f"(weights {ensemble.weights[0]:.2f} minilm, {ensemble.weights[1]:.2f} fast)", file=sys.stderr)
    return ensemble
