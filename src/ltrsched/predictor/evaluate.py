"""Side-by-side evaluation: tau-b per list of 32 and over the split, accuracy for classifiers, one table."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltrsched.predictor.data import LengthExample
from ltrsched.predictor.labels import length_label
from ltrsched.predictor.metrics import LIST_SIZE, list_taus, split_tau

BASELINES = ("prompt-length", "tfidf-ridge")


@dataclass(slots=True)
class EvalRow:
    """One model's numbers on one split."""

    name: str  # model name (folder name or baseline)
    kind: str  # transformer, fast-linear, ensemble, baseline
    loss: str  # training loss ("" for baselines)
    tau: float  # Kendall tau-b averaged over lists of 32
    tau_std: float  # standard deviation of the per-list tau
    split_tau: float  # tau-b over the whole split
    accuracy: float | None  # bucket accuracy (classifiers only)
    num_prompts: int  # prompts scored
    prompts_per_s: float  # scoring speed seen here (includes a cold start)


def scores_for(name: str, examples: list[LengthExample], train: list[LengthExample] | None) -> tuple[np.ndarray, Any]:
    """(scores, ranker) for a baseline name or a ranker folder."""
    from ltrsched.predictor import load_ranker
    from ltrsched.predictor.baselines import PromptLengthRanker, TfidfRidgeRanker

    if name == "prompt-length":
        ranker: Any = PromptLengthRanker()
        return ranker.score_examples(examples), ranker
    if name == "tfidf-ridge":
        if train is None:
            raise ValueError("tfidf-ridge needs a train split")
        ranker = TfidfRidgeRanker(train)
        return ranker.score_examples(examples), ranker
    ranker = load_ranker(name)
    return ranker.score([e.prompt for e in examples]), ranker


def evaluate(models: list[str], examples: list[LengthExample], train: list[LengthExample] | None = None,
             list_size: int = LIST_SIZE) -> tuple[list[EvalRow], dict[str, np.ndarray]]:
    rows, all_scores = [], {}
    lens = np.array([e.output_len for e in examples])
    for name in models:
        t0 = time.perf_counter()
        scores, ranker = scores_for(name, examples, train)
        dt = time.perf_counter() - t0
        manifest = getattr(ranker, "manifest", {}) or {}
        loss = str(manifest.get("loss", ""))
        acc = None
        if loss.startswith("classification"):
            from ltrsched.predictor.losses import get_loss

            acc = float(np.mean(scores.astype(np.int64) == length_label(lens, get_loss(loss).group)))
        taus = list_taus(scores, lens, list_size)
        label = name if name in BASELINES else str(manifest.get("name") or Path(name).name)
        rows.append(EvalRow(label, str(manifest.get("kind", "baseline")), loss, float(taus.mean()),
                            float(taus.std()), split_tau(scores, lens), acc, len(examples), len(examples) / dt))
        all_scores[label] = scores
        print(f"ltrsched eval: {label}: tau {taus.mean():.4f}", file=sys.stderr, flush=True)
    return rows, all_scores


def table(rows: list[EvalRow]) -> str:
    """A Markdown table."""
    out = ["| model | kind | loss | tau (lists of 32) | tau (whole split) | accuracy | prompts | prompts/s |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc = f"{r.accuracy:.1%}" if r.accuracy is not None else "–"
        out.append(f"| {r.name} | {r.kind} | {r.loss or '–'} | {r.tau:.3f} ± {r.tau_std:.3f} | {r.split_tau:.3f} | "
                   f"{acc} | {r.num_prompts} | {r.prompts_per_s:.0f} |")
    return "\n".join(out)


def plot(rows: list[EvalRow], path: str | Path) -> None:
    from ltrsched.report import new_figure, save_figure

    fig, ax = new_figure(figsize=(max(5, len(rows) * 1.1), 3.5))
    ax.bar([r.name for r in rows], [r.tau for r in rows], yerr=[r.tau_std for r in rows], capsize=3)
    ax.set_ylabel("Kendall tau-b (lists of 32)")
    ax.tick_params(axis="x", rotation=30)
    save_figure(fig, path)


def as_json(rows: list[EvalRow]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]
