"""Named training set-ups: ``demo`` (minutes), ``default`` (the full CPU ranker), ``fast`` (the fast tier)."""

from __future__ import annotations

import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from ltrsched.predictor.data import load_sharegpt
from ltrsched.predictor.fast import FastConfig, FastRanker
from ltrsched.predictor.model import ModelConfig
from ltrsched.predictor.train import TrainConfig, train_ranker

# preset -> (TrainConfig overrides, ModelConfig overrides) of the transformer member; "fast" is the fast tier alone.
# demo and default also train the fast tier and save an ensemble of both (weights picked on val).
PRESETS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # MiniLM fine-tuned for ~4 min (about 70 lists of 32) + the fast tier: ~6 min cold on 2 cores
    "demo": ({"head_epochs": 0, "epochs": 1, "train_layers": -1, "lr": 8e-5, "eval_every": 35, "max_minutes": 4.0},
             {"max_len": 128}),
    # MiniLM fine-tuned (all layers) for one epoch of the train split, ~20 min on 2 cores, + the fast tier
    "default": ({"head_epochs": 0, "epochs": 1, "train_layers": -1, "lr": 8e-5, "eval_every": 70,
                 "max_minutes": 20.0}, {"max_len": 128}),
    "fast": ({}, {}),
}


def apply_preset(name: str | None, train_cfg: TrainConfig, model_cfg: ModelConfig) -> tuple[TrainConfig, ModelConfig]:
    """Preset values for every field still at its dataclass default (explicit flags win)."""
    if not name:
        return train_cfg, model_cfg
    t_over, m_over = PRESETS[name]
    t_def, m_def = TrainConfig(), ModelConfig()
    t = {k: v for k, v in t_over.items() if getattr(train_cfg, k) == getattr(t_def, k)}
    m = {k: v for k, v in m_over.items() if getattr(model_cfg, k) == getattr(m_def, k)}
    return replace(train_cfg, **t), replace(model_cfg, **m)


def train_preset(name: str, out: str | Path, progress: bool = True, limit: int | None = None,
                 train_cfg: TrainConfig | None = None, model_cfg: ModelConfig | None = None) -> Any:
    """Train a preset on the ShareGPT first-turn train split (val for model selection) and save it to ``out``.

    demo/default: ``out/minilm`` (transformer), ``out/fast`` (fast tier) and, in ``out``, their ensemble.
    """
    from ltrsched.predictor.ensemble import EnsembleRanker

    out = Path(out)
    train = load_sharegpt("train", limit=limit)
    val = load_sharegpt("val")
    note = {"source": "sharegpt", "turns": "first", "tokenizer": "llama3"}
    fast_dir = out if name == "fast" else out / "fast"
    fast = FastRanker.train(train, val, FastConfig(), name="fast-linear")
    fast.manifest["data"].update(note)
    fast.save(fast_dir)
    if name == "fast":
        return fast
    t, m = apply_preset(name, train_cfg or TrainConfig(), model_cfg or ModelConfig())
    train_ranker(train, val, t, m, out / "minilm", name=f"{name}-minilm-{t.loss}", progress=progress, data_note=note)
    ensemble = EnsembleRanker.fit([out / "minilm", fast_dir], val, name=f"{name}-ensemble")
    ensemble.manifest["data"] = {"train": len(train), "val": len(val), **note}
    ensemble.save(out)
    print(f"ltrsched train: ensemble val tau {ensemble.manifest['metrics']['val_tau']:.4f} "
          f"(weights {ensemble.weights[0]:.2f} minilm, {ensemble.weights[1]:.2f} fast)", file=sys.stderr)
    return ensemble


def config_fields() -> list[str]:
    return [f.name for f in fields(TrainConfig)] + [f.name for f in fields(ModelConfig)]
