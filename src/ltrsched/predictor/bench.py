"""``ltrsched bench predictor``: every loss, the fast tier and the baselines on the ShareGPT test split, in one
table, then scoring speed and the scorer's peak memory (``--speed-only``: just those, for scoring variants side by
side). Losses are compared on frozen MiniLM embeddings (one cached encoding of each split, so every head sees the
same features); the default ranker row is the saved model.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

from ltrsched.paths import default_ranker_dir
from ltrsched.predictor.data import load_sharegpt
from ltrsched.predictor.evaluate import EvalRow, evaluate, table
from ltrsched.predictor.labels import length_label
from ltrsched.predictor.losses import get_loss
from ltrsched.predictor.metrics import list_taus, split_tau


def _frozen_rows(losses: list[str], train: list[Any], val: list[Any], test: list[Any]) -> list[EvalRow]:
    import torch

    from ltrsched.predictor.model import ModelConfig, backbone_path, build_model
    from ltrsched.predictor.ranker import Ranker
    from ltrsched.predictor.train import TrainConfig, _seed, _train_head, embeddings

    cfg = ModelConfig()
    folder = backbone_path(cfg.backbone)
    from transformers import AutoTokenizer

    base = build_model(folder, 1, cfg.pooling)
    enc = Ranker(base, AutoTokenizer.from_pretrained(str(folder)),
                 {"config": vars_of(cfg), "loss": "listmle", "backbone_path": str(folder)})
    emb = [embeddings(enc, split, progress=False) for split in (train, val, test)]
    lens = [np.array([e.output_len for e in split]) for split in (train, val, test)]
    rows = []
    for name in losses:
        spec = get_loss(name)
        rng = _seed(0)
        head = types.SimpleNamespace(head=torch.nn.Linear(emb[0].shape[1], spec.out_dim))
        torch.nn.init.zeros_(head.head.weight)
        torch.nn.init.zeros_(head.head.bias)
        t0 = time.perf_counter()
        _train_head(head, spec, TrainConfig(loss=name, head_epochs=40), emb[0], lens[0], emb[1], lens[1], rng, False)
        with torch.no_grad():
            scores = spec.score(head.head(torch.from_numpy(emb[2]))).numpy()
        taus = list_taus(scores, lens[2])
        acc = float(np.mean(scores.astype(np.int64) == length_label(lens[2], spec.group))) if spec.group else None
        rows.append(EvalRow(f"minilm-frozen-{name}", "transformer (frozen)", name, float(taus.mean()),
                            float(taus.std()), split_tau(scores, lens[2]), acc, len(test),
                            len(test) / (time.perf_counter() - t0)))
        print(f"ltrsched bench: frozen {name}: tau {taus.mean():.4f}", file=sys.stderr, flush=True)
    return rows


def vars_of(obj: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(obj)


def speed_table(folder: str | Path, prompts: list[Any], precisions: list[str], threads: list[int],
                rounds: int = 2) -> str:
    """Scoring variants of one ranker side by side: each (precision, threads) in a fresh process, the variants
    alternating ``rounds`` times (A B A B: on a shared machine the load then falls on all of them alike); best
    prompts/s and the highest peak RSS per variant, with the resident memory after each stage."""
    from ltrsched.predictor.speed import speed

    variants = [(p, t) for p in precisions for t in threads]
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {v: [] for v in variants}
    for _ in range(rounds):
        for p, t in variants:
            runs[(p, t)].append(speed(folder, prompts, repeats=2, precision=p, threads=t or None))
    lines = [f"{folder}, {len(prompts)} test prompts, {rounds} rounds", "",
             "| precision | threads | prompts/s (best) | peak RSS MB | RSS MB: start / loaded / warm / scored | load s "
             "| heavy imports |", "|---|---|---|---|---|---|---|"]
    for (p, t), rs in runs.items():
        stages = " / ".join(f"{rs[-1]['rss_mb'][k]:.0f}" for k in ("start", "loaded", "warm", "scored"))
        lines.append(f"| {p} | {t or 'default'} | {max(r['prompts_per_s'] for r in rs):.1f} | "
                     f"{max(r['peak_mb'] for r in rs):.0f} | {stages} | {min(r['load_s'] for r in rs):.1f} | "
                     f"{', '.join(rs[-1]['imported']) or '-'} |")
    return "\n".join(lines)


def run_speed_only(args: argparse.Namespace) -> int:
    """``ltrsched bench predictor --speed-only``: seconds, not the quality table's minutes."""
    from ltrsched.errors import UserError

    folder = Path(args.models.split(",")[0]).expanduser() if args.models else default_ranker_dir()
    if not (folder / "manifest.json").is_file():
        raise UserError(f"{folder}: no ranker to time (no manifest.json); name one with --models DIR")
    prompts = [e.prompt for e in load_sharegpt("test")[: args.speed_prompts]]
    report = speed_table(folder, prompts, args.precision.split(","), [int(t) for t in args.threads.split(",")],
                         args.rounds)
    if args.out:
        Path(args.out).write_text(report + "\n")
    print(report)
    return 0


def _check_names(args: argparse.Namespace) -> None:
    """Every named loss and ranker folder exists, before minutes of training are spent."""
    from ltrsched.errors import UserError

    for name in (x for x in args.losses.split(",") if x):
        get_loss(name)  # a UserError naming the known losses
    for folder in (m for m in args.models.split(",") if m):
        if not (Path(folder).expanduser() / "manifest.json").is_file():
            raise UserError(f"--models {folder}: not a ranker folder (no manifest.json); train one with "
                            "`ltrsched train --out DIR`")
    for precision in args.precision.split(","):
        if precision not in ("int8", "fp32"):
            raise UserError(f"--precision {precision}: use int8 and/or fp32 (comma-separated)")
    if not all(t.strip().isdigit() for t in args.threads.split(",")):
        raise UserError(f"--threads {args.threads}: use thread counts, comma-separated (0: the default)")


def run_bench(args: argparse.Namespace) -> int:
    from ltrsched.paths import models_dir
    from ltrsched.predictor.fast import FastRanker
    from ltrsched.predictor.speed import speed

    _check_names(args)
    if args.speed_only:
        return run_speed_only(args)
    train, val = load_sharegpt("train"), load_sharegpt("val")
    test = load_sharegpt("test", limit=args.limit)
    fast_dir = models_dir() / "fast"
    FastRanker.train(train, val).save(fast_dir)
    models = ["prompt-length", "tfidf-ridge", str(fast_dir)]
    if (default_ranker_dir() / "manifest.json").is_file():
        models.append(str(default_ranker_dir()))
    models += [m for m in args.models.split(",") if m]
    rows, _ = evaluate(models, test, train)
    losses = [x for x in args.losses.split(",") if x]
    rows += _frozen_rows(losses, train, val, test)
    speed_prompts = [e.prompt for e in load_sharegpt("test")[: args.speed_prompts]]
    speeds = {"fast": speed(fast_dir, speed_prompts * 8)}
    if (default_ranker_dir() / "manifest.json").is_file():
        speeds["default"] = speed(default_ranker_dir(), speed_prompts)
    report = table(rows) + "\n\n| scorer | prompts/s (best of 3) | peak RSS MB |\n|---|---|---|\n" + "\n".join(
        f"| {k} | {v['prompts_per_s']:.0f} | {v['peak_mb']:.0f} |" for k, v in speeds.items())
    if args.out:
        Path(args.out).write_text(report + "\n")
    if args.json:
        from ltrsched.predictor.evaluate import as_json

        print(json.dumps({"rows": as_json(rows), "speed": speeds,
                          "bench_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    else:
        print(report)
    return 0
