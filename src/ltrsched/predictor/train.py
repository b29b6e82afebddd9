"""Training: (1) a linear head on frozen, cached backbone embeddings, then (2) optional fine-tuning of the top
backbone layers with the head, one list of 32 prompts per step (the paper's batch). Val tau after each epoch
(and every ``eval_every`` steps); the best state is kept; the test split is never touched. Censored rows (a
served log's ``finish_reason`` length/abort/error) train only the orders they decide (``predictor.censor``).
"""

from __future__ import annotations

import hashlib
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ltrsched.paths import cache_dir
from ltrsched.predictor.data import LengthExample
from ltrsched.predictor.losses import get_loss
from ltrsched.predictor.metrics import mean_list_tau
from ltrsched.predictor.model import ModelConfig, backbone_path, build_model, encoder_layers
from ltrsched.predictor.quantiles import add_quantiles
from ltrsched.predictor.ranker import KIND, Ranker


@dataclass(slots=True)
class TrainConfig:
    """How to train (the model's own settings are in ModelConfig)."""

    loss: str = field(default="listmle",
                      metadata={"help": "listmle, pairwise, pairwise-sched, regression, "
                                                    "classification[-100|-10|-1]"})
    head_epochs: int = field(default=60, metadata={"help": "epochs of the head on frozen cached embeddings"})
    epochs: int = field(default=0, metadata={"help": "fine-tuning epochs of the top layers (0: frozen backbone)"})
    train_layers: int = field(default=2, metadata={"help": "top backbone layers fine-tuned (-1: all)"})
    lr: float = field(default=5e-5, metadata={"help": "backbone learning rate when fine-tuning"})
    head_lr: float = field(default=1e-3, metadata={"help": "head learning rate"})
    list_size: int = field(default=32, metadata={"help": "prompts per list = per step"})
    eval_every: int = field(default=100, metadata={"help": "fine-tuning steps between val evaluations"})
    select_by: str = field(default="tau", metadata={
        "help": "checkpoint selection on val: tau (lists of 32) or oracle-gain (share of the SRTF oracle's gain "
                "in a simulated burst of the val prompts, ~2 s per evaluation)"})
    max_minutes: float = field(default=0.0, metadata={"help": "stop fine-tuning after this long (0: no limit)"})
    max_steps: int = field(default=0, metadata={
        "help": "stop fine-tuning after this many lists (0: no limit); equal-budget comparisons on a shared CPU"})
    seed: int = field(default=0, metadata={"help": "seed for shuffling and init"})
    device: str = field(default="cpu", metadata={"help": "cpu or cuda"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: all cores, at most 4)"})


SELECT_BY = ("tau", "oracle-gain")


def val_metric(scores: np.ndarray, val: list[LengthExample], select_by: str) -> float:
    """The number checkpoints are selected by (higher is better)."""
    lens = [e.output_len for e in val]
    censored = [e.censored for e in val]
    if select_by == "oracle-gain":
        from ltrsched.predictor.schedmetric import oracle_gain_share

        return oracle_gain_share([e.prompt_len for e in val], lens, scores)
    return mean_list_tau(scores, lens, censored=censored)


def _log(msg: str) -> None:
    print(f"ltrsched train: {msg}", file=sys.stderr, flush=True)


def _seed(seed: int) -> Any:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def _lists(n: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    perm = rng.permutation(n)
    return [perm[i:i + size] for i in range(0, n - size + 1, size)]


def embeddings(ranker: Ranker, examples: list[LengthExample], progress: bool) -> np.ndarray:
    """[n, hidden] frozen embeddings, cached on disk by backbone, settings and example ids."""
    cfg = ranker.config
    key = hashlib.sha1(json_key(cfg, ranker.manifest.get("backbone_path", ""), examples).encode()).hexdigest()[:16]
    path = cache_dir() / "embeddings" / f"{key}.npy"
    if path.is_file():
        return np.load(path)
    t0 = time.perf_counter()
    chunks = []
    from tqdm import tqdm

    step = 512
    for i in tqdm(range(0, len(examples), step), desc="embedding", unit="chunk", disable=not progress, file=sys.stderr):
        chunks.append(ranker.raw([e.prompt for e in examples[i:i + step]], embed=True))
    emb = np.concatenate(chunks) if chunks else np.zeros((0, 1), np.float32)
    _log(f"embedded {len(examples)} prompts in {time.perf_counter() - t0:.0f} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, emb)
    return emb


def json_key(cfg: ModelConfig, backbone: str, examples: list[LengthExample]) -> str:
    ids = "\n".join(e.id for e in examples)
    window = f"{cfg.max_len}" + (f"t{cfg.tail_tokens}" if cfg.tail_tokens else "")
    return f"{backbone}|{window}|{cfg.pooling}|{cfg.prompt_format}|{hashlib.sha1(ids.encode()).hexdigest()}"


def _train_head(model: Any, spec: Any, cfg: TrainConfig, emb_tr: np.ndarray, lens_tr: np.ndarray,
                emb_va: np.ndarray, lens_va: np.ndarray, rng: np.random.Generator, progress: bool,
                cens_tr: np.ndarray | None = None, cens_va: np.ndarray | None = None) -> float:
    """The head on frozen embeddings; ``cens_tr`` / ``cens_va`` mark rows whose length is a lower bound."""
    import torch
    from tqdm import tqdm

    head = model.head
    x_tr, y_tr = torch.from_numpy(emb_tr), torch.from_numpy(lens_tr)
    c_tr = torch.from_numpy(cens_tr) if cens_tr is not None and cens_tr.any() else None
    x_va = torch.from_numpy(emb_va)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.head_lr, weight_decay=1e-4)
    best, best_state = -2.0, {k: v.clone() for k, v in head.state_dict().items()}
    bar = tqdm(range(cfg.head_epochs), desc="head", disable=not progress, file=sys.stderr)
    for _epoch in bar:
        for idx in _lists(len(x_tr), cfg.list_size, rng):
            ix = torch.from_numpy(idx)
            loss = spec.fn(head(x_tr[ix]), y_tr[ix], c_tr[ix] if c_tr is not None else None)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            tau = mean_list_tau(spec.score(head(x_va)).numpy(), lens_va, censored=cens_va)
        if tau > best:
            best, best_state = tau, {k: v.clone() for k, v in head.state_dict().items()}
        bar.set_postfix(val_tau=f"{tau:.3f}", best=f"{best:.3f}")
    head.load_state_dict(best_state)
    return best


def _param_groups(model: Any, cfg: TrainConfig) -> list[dict[str, Any]]:
    """Freeze the backbone but its top ``train_layers``; optimizer groups for those layers and the head."""
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    layers = encoder_layers(model)
    top = layers if cfg.train_layers < 0 else layers[len(layers) - cfg.train_layers:]
    for layer in top:
        for p in layer.parameters():
            p.requires_grad_(True)
    return [{"params": [p for layer in top for p in layer.parameters()], "lr": cfg.lr},
            {"params": list(model.head.parameters()), "lr": cfg.head_lr * (0.1 if cfg.head_epochs else 1.0)}]


def _step(ranker: Ranker, spec: Any, opt: Any, trainable: list[Any], batch: list[LengthExample]) -> None:
    """One optimizer step on one list (the batch is length-sorted for padding, the lengths with it)."""
    import torch

    (_, input_ids, mask), = list(ranker._batches([e.prompt for e in batch], len(batch), max_tokens=None))
    order = np.argsort([len(x) for x in ranker.encode([e.prompt for e in batch])], kind="stable")
    lens = torch.tensor([batch[i].output_len for i in order])
    censored = torch.tensor([batch[i].censored for i in order])
    loss = spec.fn(ranker.model(input_ids, mask), lens.to(input_ids.device),
                   censored.to(input_ids.device) if bool(censored.any()) else None)
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
    opt.step()


def _finetune(ranker: Ranker, spec: Any, cfg: TrainConfig, train: list[LengthExample], val: list[LengthExample],
              rng: np.random.Generator, best: float, progress: bool) -> tuple[float, int]:
    import torch
    from tqdm import tqdm

    model = ranker.model
    params = _param_groups(model, cfg)
    opt = torch.optim.AdamW(params, weight_decay=0.01)
    trainable = [p for group in params for p in group["params"]]
    best_state = [p.detach().clone() for p in trainable]
    steps, t0 = 0, time.perf_counter()

    def evaluate() -> None:
        nonlocal best, best_state
        model.eval()
        tau = val_metric(ranker.score([e.prompt for e in val]), val, cfg.select_by)
        model.train()
        _log(f"step {steps}: val {cfg.select_by} {tau:.4f} (best {max(tau, best):.4f})")
        if tau > best:
            best, best_state = tau, [p.detach().clone() for p in trainable]

    for epoch in range(cfg.epochs):
        model.train()
        lists = _lists(len(train), cfg.list_size, rng)
        for idx in tqdm(lists, desc=f"fine-tune {epoch + 1}/{cfg.epochs}", disable=not progress, file=sys.stderr):
            _step(ranker, spec, opt, trainable, [train[i] for i in idx])
            steps += 1
            if cfg.eval_every and steps % cfg.eval_every == 0:
                evaluate()
            if (cfg.max_minutes and time.perf_counter() - t0 > cfg.max_minutes * 60) or steps == cfg.max_steps:
                break
        else:
            if not cfg.eval_every or steps % cfg.eval_every:
                evaluate()
            continue
        if not cfg.eval_every or steps % cfg.eval_every:
            evaluate()
        _log(f"stopped after {(time.perf_counter() - t0) / 60:.1f} min ({steps} steps)")
        break
    with torch.no_grad():
        for p, b in zip(trainable, best_state, strict=True):
            p.copy_(b)
    model.eval()
    return best, steps


def train_ranker(train: list[LengthExample], val: list[LengthExample], cfg: TrainConfig,
                 model_cfg: ModelConfig, out: str | Path, name: str = "ranker", progress: bool = True,
                 data_note: dict[str, Any] | None = None) -> Ranker:
    """Train, keep the best val state, save to ``out`` and return the loaded ranker."""
    import torch
    from transformers import AutoTokenizer

    if cfg.select_by not in SELECT_BY:
        from ltrsched.errors import UserError

        raise UserError(f"unknown --select-by {cfg.select_by!r}; use one of {', '.join(SELECT_BY)}")
    rng = _seed(cfg.seed)
    torch.set_num_threads(cfg.threads or min(4, torch.get_num_threads()))
    spec = get_loss(cfg.loss)
    folder = backbone_path(model_cfg.backbone)
    model = build_model(folder, spec.out_dim, model_cfg.pooling).to(cfg.device)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    manifest: dict[str, Any] = {"kind": KIND, "name": name, "loss": cfg.loss, "config": asdict(model_cfg),
                                "backbone_path": str(folder), "train": asdict(cfg)}
    ranker = Ranker(model, tokenizer, manifest, cfg.device)
    t0 = time.perf_counter()
    lens_tr = np.array([e.output_len for e in train])
    lens_va = np.array([e.output_len for e in val])
    cens_va = np.array([e.censored for e in val], dtype=bool)
    best = -2.0
    if cfg.head_epochs > 0:
        emb_tr, emb_va = embeddings(ranker, train, progress), embeddings(ranker, val, progress)
        model.head.to("cpu")
        best = _train_head(model, spec, cfg, emb_tr, lens_tr, emb_va, lens_va, rng, progress,
                           np.array([e.censored for e in train], dtype=bool), cens_va)
        model.head.to(cfg.device)
        _log(f"head on frozen embeddings: val tau {best:.4f}")
        if cfg.select_by != "tau":  # fine-tuning compares against the head's value of the selection metric
            best = val_metric(ranker.score([e.prompt for e in val]), val, cfg.select_by)
    steps = 0
    if cfg.epochs > 0:
        best, steps = _finetune(ranker, spec, cfg, train, val, rng, best, progress)
    minutes = (time.perf_counter() - t0) / 60
    val_scores = ranker.score([e.prompt for e in val])
    add_quantiles(ranker, val_scores, lens_va)
    manifest["data"] = {"train": len(train), "val": len(val), "train_censored": sum(e.censored for e in train),
                        **(data_note or {})}
    manifest["metrics"] = {"val_tau": mean_list_tau(val_scores, lens_va, censored=cens_va),
                           f"val_{cfg.select_by}_best": best,
                           "finetune_steps": steps, "train_minutes": round(minutes, 2)}
    ranker.save(out)
    _log(f"saved {out} (val tau {manifest['metrics']['val_tau']:.4f}, {minutes:.1f} min)")
    return ranker
