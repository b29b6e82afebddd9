"""``Ranker``: a trained transformer ranker on disk, scoring prompts (higher = shorter expected output).

A model folder holds ``manifest.json`` (kind, config, loss, data, hyperparameters, metrics), the backbone
(``config.json`` + ``model.safetensors``), its tokenizer, and ``head.safetensors``. Scoring sorts prompts by
token length and pads per batch, so short prompts cost little; one lock makes ``score`` thread-safe.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ltrsched.errors import MissingModelError, UserError
from ltrsched.predictor.losses import get_loss
from ltrsched.predictor.model import ModelConfig
from ltrsched.predictor.prompts import normalize

KIND = "transformer"
BATCH_SIZE = 32  # prompts per forward pass when scoring, at most
BATCH_TOKENS = 2048  # padded tokens per forward pass, at most: bounds activation memory (docs/results.md, "speed")
PRECISION_ENV = "LTRSCHED_SCORER"  # int8 (default) or fp32: how CPU scoring computes the encoder


def default_threads() -> int:
    """torch's own count (the cores, or ``$OMP_NUM_THREADS``), at most 4. On a host whose cores are busy (a vLLM
    engine beside the scorer) ``OMP_NUM_THREADS=1`` scores faster: OpenMP threads wait on each other there."""
    import torch

    return max(1, min(4, torch.get_num_threads()))


class Ranker:
    """A loaded transformer ranker. ``score`` is batched, length-sorted and safe to call from many threads."""

    def __init__(self, model: Any, tokenizer: Any, manifest: dict[str, Any], device: str = "cpu") -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.manifest = manifest
        self.name = str(manifest.get("name", KIND))
        self.config = model_config(manifest)
        self.loss = get_loss(manifest["loss"])
        self.device = device
        self._lock = threading.Lock()

    def encode(self, prompts: Sequence[Any]) -> list[list[int]]:
        """Token ids with special tokens, at most ``max_len``: the head, or head + tail (``tail_tokens``)."""
        texts = [normalize(p, self.config.prompt_format) for p in prompts]
        cfg = self.config
        if cfg.tail_tokens <= 0:
            return self.tokenizer(texts, truncation=True, max_length=cfg.max_len)["input_ids"]
        tail, special = min(cfg.tail_tokens, cfg.max_len - 2), set(self.tokenizer.all_special_ids)
        return [_head_tail_ids(ids, cfg.max_len, tail, special)
                for ids in self.tokenizer(texts)["input_ids"]]

    def _batches(self, prompts: Sequence[Any], batch_size: int, max_tokens: int | None = BATCH_TOKENS) -> Any:
        """(indices, input_ids, attention_mask) per batch, prompts sorted by length (least padding, see ``_groups``)."""
        import torch

        ids = self.encode(prompts)
        lengths = [len(x) for x in ids]
        pad = int(self.tokenizer.pad_token_id or 0)
        for idx in _groups(lengths, batch_size, max_tokens or batch_size * self.config.max_len):
            width = lengths[idx[-1]]
            input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            yield idx, input_ids.to(self.device), mask.to(self.device)

    def raw(self, prompts: Sequence[Any], batch_size: int = BATCH_SIZE, embed: bool = False) -> np.ndarray:
        """[n, out_dim] head outputs (or [n, hidden] embeddings with ``embed``), in input order."""
        import torch

        with self._lock, torch.inference_mode():
            out: np.ndarray | None = None
            for idx, input_ids, mask in self._batches(prompts, batch_size):
                y = self.model.embed(input_ids, mask) if embed else self.model(input_ids, mask)
                y = y.float().cpu().numpy()
                if out is None:
                    out = np.zeros((len(prompts), y.shape[1]), dtype=np.float32)
                out[idx] = y
        return out if out is not None else np.zeros((0, 1), dtype=np.float32)

    def score(self, prompts: Sequence[Any], batch_size: int = BATCH_SIZE) -> np.ndarray:
        """[n] float32, higher = shorter expected output. Any input is accepted (see ``prompts.normalize``)."""
        import torch

        if len(prompts) == 0:
            return np.zeros(0, dtype=np.float32)
        raw = self.raw(prompts, batch_size)
        return self.loss.score(torch.from_numpy(raw)).numpy().astype(np.float32)

    def predict_quantiles(self, prompts: Sequence[Any]) -> np.ndarray:
        """[n, 3] (p10, p50, p90) output tokens, from the score through the manifest's val-fitted mapping."""
        from ltrsched.predictor.quantiles import predict_quantiles

        return predict_quantiles(self, prompts)

    def save(self, path: str | Path) -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model.backbone.save_pretrained(str(path), safe_serialization=True)
        self.tokenizer.save_pretrained(str(path))
        save_file({k: v.detach().cpu().contiguous() for k, v in self.model.head.state_dict().items()},
                  str(path / "head.safetensors"))
        (path / "manifest.json").write_text(json.dumps(self.manifest, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu", threads: int | None = None,
             int8: bool | None = None) -> Ranker:
        """Open a model folder for scoring. A BERT encoder (MiniLM) is read without transformers
        (``predictor.encoder``); on CPU its linear layers are dynamic int8 unless ``int8=False`` or
        ``LTRSCHED_SCORER=fp32`` (see ``scoring_int8``). Other backbones stay fp32 unless ``int8=True``."""
        import torch
        from safetensors.torch import load_file

        from ltrsched.predictor import encoder
        from ltrsched.predictor.model import build_model

        path = Path(path)
        manifest = read_manifest(path, KIND, "Ranker.load")
        if threads or device == "cpu":
            torch.set_num_threads(threads or default_threads())
        config = model_config(manifest)
        plain = encoder.supported(path)
        model = build_model(path, get_loss(manifest["loss"]).out_dim, config.pooling, plain=plain)
        model.head.load_state_dict(load_file(str(path / "head.safetensors")))
        if plain:
            tokenizer: Any = encoder.FolderTokenizer(path)
        else:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(path))
        want = scoring_int8() if int8 is None else int8
        if want and device == "cpu" and (plain or int8):  # by default only where it was measured (BERT)
            quantize_int8(model.backbone)
        return cls(model.to(device), tokenizer, manifest, device)


def scoring_int8() -> bool:
    """Whether CPU scoring uses int8 linear layers: yes unless ``$LTRSCHED_SCORER`` is ``fp32``. Int8 scores
    the default ranker 1.6-3.1x faster at the same test tau (docs/results.md, "scoring speed and memory")."""
    value = os.environ.get(PRECISION_ENV, "int8").strip().lower()
    if value not in ("int8", "fp32"):
        raise UserError(f"${PRECISION_ENV}={value!r}: use int8 (the default) or fp32")
    return value == "int8"


def quantize_int8(module: Any) -> None:
    """Swap ``module``'s linear layers for dynamic int8 ones in place: weights per output channel (per-tensor
    weights lost 0.007 test tau on the default ranker's MiniLM, per channel 0.004), activations per batch."""
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # torch marks its eager quantization deprecated; it is still the CPU path
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        quantize_dynamic(module, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)


def _groups(lengths: list[int], batch_size: int, max_tokens: int) -> Any:
    """Indices by increasing length, cut into batches of at most ``batch_size`` rows and ``max_tokens`` padded
    tokens (one row at least): short prompts share big batches, long ones go a few at a time."""
    order = np.argsort(lengths, kind="stable")
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and end - start < batch_size and (end - start + 1) * lengths[order[end]] <= max_tokens:
            end += 1
        yield order[start:end]
        start = end


def _head_tail_ids(ids: list[int], max_len: int, tail: int, special: set[int]) -> list[int]:
    """At most ``max_len`` ids: the leading and trailing special tokens kept, the body cut to its head and last
    ``tail`` ids."""
    if len(ids) <= max_len:
        return ids
    pre = next((i for i, t in enumerate(ids) if t not in special), len(ids))
    suf = next((i for i, t in enumerate(reversed(ids)) if t not in special), 0)
    body = ids[pre:len(ids) - suf]
    room = max_len - pre - suf
    tail = min(tail, room)
    return ids[:pre] + body[: room - tail] + body[len(body) - tail:] + ids[len(ids) - suf:]


def model_config(manifest: dict[str, Any]) -> ModelConfig:
    """The manifest's ModelConfig; fields it predates keep the behaviour it was trained with (head only), fields
    since dropped (``int8``: scoring precision is now chosen at load time) are ignored."""
    from dataclasses import fields

    known = {f.name for f in fields(ModelConfig)}
    return ModelConfig(**{"tail_tokens": 0, **{k: v for k, v in manifest["config"].items() if k in known}})


def read_manifest(path: Path, kind: str | None = None, caller: str = "") -> dict[str, Any]:
    """The folder's manifest; with ``kind``, a UserError when the folder holds another kind of ranker.

    Manifests written before ``kind`` existed are transformer rankers.
    """
    file = Path(path) / "manifest.json"
    if not file.is_file():
        raise MissingModelError(f"{path} is not a ranker folder (no manifest.json); train one with "
                                f"`ltrsched train --out {path}` or use the default (`ltrsched train --preset default`)")
    manifest: dict[str, Any] = json.loads(file.read_text())
    found = manifest.get("kind", KIND)
    if kind is not None and found != kind:
        raise UserError(f"{path} holds a {found!r} ranker, which {caller} cannot open (it opens {kind!r} "
                        f"rankers); open any saved ranker with ltrsched.predictor.load_ranker({str(path)!r})")
    return manifest
