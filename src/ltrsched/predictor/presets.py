"""Named training set-ups: ``demo`` (minutes), ``default`` (the full CPU ranker), ``fast`` (the fast tier)."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from ltrsched.predictor.data import load_sharegpt
from ltrsched.predictor.fast import FastConfig, FastRanker
from ltrsched.predictor.model import ModelConfig
from ltrsched.predictor.train import TrainConfig, train_ranker

# preset -> (TrainConfig overrides, ModelConfig overrides); "fast" trains the fast tier instead.
PRESETS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # frozen MiniLM (cached embeddings) + ListMLE head: ~5 min cold on 2 cores
    "demo": ({"head_epochs": 60, "epochs": 0}, {"max_len": 256}),
    # + fine-tuning MiniLM's top 2 layers for one epoch over the train split (~25 min on 2 cores)
    "default": ({"head_epochs": 60, "epochs": 1, "train_layers": 2, "eval_every": 70, "max_minutes": 22.0},
                {"max_len": 256}),
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


def train_preset(name: str, out: str | Path, progress: bool = True, limit: int | None = None) -> Any:
    """Train a preset on the ShareGPT first-turn train split (val for model selection) and save it to ``out``."""
    train = load_sharegpt("train", limit=limit)
    val = load_sharegpt("val")
    note = {"source": "sharegpt", "turns": "first", "tokenizer": "llama3"}
    if name == "fast":
        fast = FastRanker.train(train, val, FastConfig(), name="fast-linear")
        fast.manifest["data"].update(note)
        fast.save(out)
        return fast
    t, m = apply_preset(name, TrainConfig(), ModelConfig())
    return train_ranker(train, val, t, m, out, name=f"{name}-{t.loss}", progress=progress, data_note=note)


def config_fields() -> list[str]:
    return [f.name for f in fields(TrainConfig)] + [f.name for f in fields(ModelConfig)]
