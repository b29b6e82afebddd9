"""A plain-torch BERT encoder and tokenizer for scoring, so that scoring never imports transformers.

transformers' model import alone holds ~260 MB (it pulls scipy, pandas, sympy and scikit-learn's metrics in), more
than the model. This is BertModel's eval-mode arithmetic (absolute positions, erf GELU, post-LayerNorm) under its
parameter names, loaded from the same ``config.json`` + ``model.safetensors``; ``supported`` says which folders it
reads (MiniLM and other BERT encoders), the rest go through transformers. Training keeps transformers.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

WEIGHTS = ("config.json", "model.safetensors")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def supported(folder: Path) -> bool:
    """Whether ``folder`` holds a BERT encoder this module computes exactly as transformers does."""
    file = folder / "config.json"
    if not (file.is_file() and (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()):
        return False
    cfg = json.loads(file.read_text())
    return (cfg.get("model_type") == "bert" and cfg.get("architectures", ["BertModel"]) == ["BertModel"]
            and cfg.get("hidden_act") == "gelu" and cfg.get("position_embedding_type", "absolute") == "absolute")


@dataclass(slots=True)
class EncoderOutput:
    last_hidden_state: Any  # [n, t, hidden]


def _copy_files(src: Path, dst: Path, names: tuple[str, ...]) -> None:
    """Saving a scoring-side part writes back the files it was read from (an int8 copy cannot be re-saved)."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (src / name).is_file() and (src / name).resolve() != (dst / name).resolve():
            shutil.copyfile(src / name, dst / name)


def load_bert(folder: Path) -> Any:
    """The encoder in ``folder`` as a ``torch.nn.Module``: ``forward(input_ids, attention_mask).last_hidden_state``."""
    import torch
    from safetensors.torch import load_file

    cfg = SimpleNamespace(**json.loads((folder / "config.json").read_text()))
    with torch.device("meta"):  # no memory, no random init: the checkpoint's tensors are assigned below
        model = _bert_class()(cfg, folder)
    state = {k: v for k, v in load_file(str(folder / "model.safetensors")).items()
             if not k.startswith("pooler.") and k != "embeddings.position_ids"}  # unused by the ranker / a buffer
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    if missing or unexpected:
        raise ValueError(f"{folder}: not a BERT checkpoint (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.eval()


def _block(nn: Any, h: int, inner: int, eps: float) -> Any:
    """One encoder layer's modules, under BertLayer's names."""
    d = nn.ModuleDict
    attention = d({"self": d({"query": nn.Linear(h, h), "key": nn.Linear(h, h), "value": nn.Linear(h, h)}),
                   "output": d({"dense": nn.Linear(h, h), "LayerNorm": nn.LayerNorm(h, eps=eps)})})
    return d({"attention": attention, "intermediate": d({"dense": nn.Linear(h, inner)}),
              "output": d({"dense": nn.Linear(inner, h), "LayerNorm": nn.LayerNorm(h, eps=eps)})})


def _bert_class() -> Any:
    import torch
    from torch import nn
    from torch.nn import functional as F

    class PlainBert(nn.Module):
        def __init__(self, cfg: Any, folder: Path) -> None:
            super().__init__()
            h, eps = cfg.hidden_size, cfg.layer_norm_eps
            self.config, self.folder, self.heads = cfg, folder, cfg.num_attention_heads
            def table(rows: int) -> Any:  # no random init: on the meta device it imports torch._dynamo (150 MB)
                return nn.Embedding(rows, h, _weight=torch.empty(rows, h))

            self.embeddings = nn.ModuleDict({
                "word_embeddings": table(cfg.vocab_size), "position_embeddings": table(cfg.max_position_embeddings),
                "token_type_embeddings": table(cfg.type_vocab_size), "LayerNorm": nn.LayerNorm(h, eps=eps)})
            self.encoder = nn.ModuleDict({"layer": nn.ModuleList(
                [_block(nn, h, cfg.intermediate_size, eps) for _ in range(cfg.num_hidden_layers)])})

        def forward(self, input_ids: Any, attention_mask: Any) -> EncoderOutput:
            n, t = input_ids.shape
            e = self.embeddings
            x = (e["word_embeddings"](input_ids) + e["position_embeddings"].weight[:t]
                 + e["token_type_embeddings"].weight[0])
            x = e["LayerNorm"](x)
            keep = attention_mask[:, None, None, :].bool()  # padded keys are never attended to
            for layer in self.encoder["layer"]:
                att = layer["attention"]
                q, k, v = (att["self"][name](x).view(n, t, self.heads, -1).transpose(1, 2)
                           for name in ("query", "key", "value"))
                ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=keep).transpose(1, 2).reshape(n, t, -1)
                x = att["output"]["LayerNorm"](att["output"]["dense"](ctx) + x)
                y = F.gelu(layer["intermediate"]["dense"](x))
                x = layer["output"]["LayerNorm"](layer["output"]["dense"](y) + x)
            return EncoderOutput(x)

        def save_pretrained(self, path: str, **_: Any) -> None:
            _copy_files(self.folder, Path(path), WEIGHTS)

    return PlainBert


class FolderTokenizer:
    """``tokenizer.json`` through the ``tokenizers`` library, with the little of transformers' interface the
    ranker uses (ids with special tokens, the special ids, the pad id, ``save_pretrained``)."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        self.folder = folder
        self._tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tok.no_truncation()
        self._tok.no_padding()
        added = self._tok.get_added_tokens_decoder()
        self.all_special_ids = sorted(i for i, t in added.items() if t.special)
        config = json.loads((folder / "tokenizer_config.json").read_text()) \
            if (folder / "tokenizer_config.json").is_file() else {}
        pad = config.get("pad_token")
        self.pad_token_id = self._tok.token_to_id(pad) if isinstance(pad, str) else None

    def __call__(self, texts: list[str], truncation: bool = False, max_length: int | None = None) -> dict[str, Any]:
        if not (truncation and max_length):
            return {"input_ids": [enc.ids for enc in self._tok.encode_batch(texts, add_special_tokens=True)]}
        room = max_length - self._tok.num_special_tokens_to_add(False)
        encs = self._tok.encode_batch(texts, add_special_tokens=False)
        for enc in encs:
            enc.truncate(room)  # the text is cut, the special tokens kept (transformers' truncation=True)
        return {"input_ids": [self._tok.post_process(enc).ids for enc in encs]}

    def save_pretrained(self, path: str) -> None:
        _copy_files(self.folder, Path(path), TOKENIZER_FILES)
