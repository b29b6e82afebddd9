"""Side-by-side evaluation: tau-b per list of 32 and over the split, tau per prompt-length bucket and on a
long-prompt mix, the scheduling figures (oracle-gain share of a simulated burst, shortest-decile recall),
accuracy for classifiers and length-quantile calibration where the ranker has quantiles; Markdown tables."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
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
    tau: float  # Kendall tau-b averaged over lists of 32 (with censored rows: 2C - 1 over each list's decided pairs)
    tau_std: float  # standard deviation of the per-list tau
    split_tau: float  # tau-b over the whole split
    accuracy: float | None  # bucket accuracy (classifiers only)
    num_prompts: int  # prompts scored
    prompts_per_s: float  # scoring speed seen here (includes a cold start)
    bucket_tau: dict[str, float] = field(default_factory=dict)  # prompt-length bucket -> mean list tau
    bucket_size: dict[str, int] = field(default_factory=dict)  # prompt-length bucket -> prompts in it
    long_mix_tau: float = float("nan")  # mean list tau on equal draws from every bucket (schedmetric)
    decile_recall: float = float("nan")  # share of the true shortest 10% in the predicted shortest 10%
    oracle_gain: float = float("nan")  # share of the SRTF oracle's gain in a simulated burst, 1 = oracle
    calibration: dict[str, float] | None = None  # below_pXX and pinball_pXX (tokens) of the quantiles


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


def _quantile_calibration(ranker: Any, examples: list[LengthExample], lens: np.ndarray) -> dict[str, float] | None:
    if "quantiles" not in (getattr(ranker, "manifest", {}) or {}):
        return None
    from ltrsched.predictor.quantiles import calibration

    return calibration(ranker.predict_quantiles([e.prompt for e in examples]), lens)


def _row(name: str, ranker: Any, scores: np.ndarray, examples: list[LengthExample], dt: float,
         list_size: int, burst: bool) -> EvalRow:
    from ltrsched.predictor import schedmetric as sm

    lens = np.array([e.output_len for e in examples])
    plens = np.array([e.prompt_len for e in examples])
    manifest = getattr(ranker, "manifest", {}) or {}
    loss = str(manifest.get("loss", ""))
    acc = None
    if loss.startswith("classification"):
        from ltrsched.predictor.losses import get_loss

        acc = float(np.mean(scores.astype(np.int64) == length_label(lens, get_loss(loss).group)))
    censored = np.array([e.censored for e in examples], dtype=bool)  # capped or aborted: lengths are lower bounds
    taus = list_taus(scores, lens, list_size, censored)
    buckets = sm.bucket_taus(scores, lens, plens, list_size)
    return EvalRow(name, str(manifest.get("kind", "baseline")), loss, float(taus.mean()), float(taus.std()),
                   split_tau(scores, lens), acc, len(examples), len(examples) / dt,
                   {k: v[0] for k, v in buckets.items()}, {k: v[1] for k, v in buckets.items()},
                   sm.long_mix_tau(scores, lens, plens, list_size), sm.shortest_decile_recall(scores, lens),
                   sm.oracle_gain_share(plens, lens, scores) if burst else float("nan"),
                   _quantile_calibration(ranker, examples, lens))


def evaluate(models: list[str], examples: list[LengthExample], train: list[LengthExample] | None = None,
             list_size: int = LIST_SIZE, burst: bool = True) -> tuple[list[EvalRow], dict[str, np.ndarray]]:
    """One row per model (``burst``: also simulate the split's burst, ~2 s per 1,000 prompts)."""
    rows, all_scores = [], {}
    for name in models:
        t0 = time.perf_counter()
        scores, ranker = scores_for(name, examples, train)
        dt = time.perf_counter() - t0
        manifest = getattr(ranker, "manifest", {}) or {}
        label = name if name in BASELINES else str(manifest.get("name") or Path(name).name)
        rows.append(_row(label, ranker, scores, examples, dt, list_size, burst))
        all_scores[label] = scores
        print(f"ltrsched eval: {label}: tau {rows[-1].tau:.4f}", file=sys.stderr, flush=True)
    return rows, all_scores


def table(rows: list[EvalRow]) -> str:
    """Markdown: tau, then tau by prompt-length bucket and the scheduling figures, then calibration."""
    out = ["| model | kind | loss | tau (lists of 32) | tau (whole split) | accuracy | prompts | prompts/s |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc = f"{r.accuracy:.1%}" if r.accuracy is not None else "–"
        out.append(f"| {r.name} | {r.kind} | {r.loss or '–'} | {r.tau:.3f} ± {r.tau_std:.3f} | {r.split_tau:.3f} | "
                   f"{acc} | {r.num_prompts} | {r.prompts_per_s:.0f} |")
    if rows and rows[0].bucket_tau:
        names = list(rows[0].bucket_tau)
        sizes = ", ".join(f"{k}: {rows[0].bucket_size[k]}" for k in names)
        out += ["", f"Tau by prompt tokens (prompts per bucket: {sizes}); long mix = equal draws from every "
                "bucket; oracle gain = (fcfs - ltr) / (fcfs - srtf-oracle), mean per-token latency of a simulated "
                "burst of these prompts; recall = true shortest 10% found in the predicted shortest 10%.", "",
                "| model | " + " | ".join(names) + " | long mix | oracle gain | shortest-decile recall |",
                "|---|" + "---|" * (len(names) + 3)]
        out += [f"| {r.name} | " + " | ".join(f"{r.bucket_tau[k]:.3f}" for k in names) +
                f" | {r.long_mix_tau:.3f} | {r.oracle_gain:.1%} | {r.decile_recall:.1%} |" for r in rows]
    calibrated = [r for r in rows if r.calibration]
    if calibrated:
        keys = list(calibrated[0].calibration or {})
        out += ["", "Length quantiles (share of true lengths at or below each; pinball loss in tokens):", "",
                "| model | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        out += [f"| {r.name} | " + " | ".join(f"{(r.calibration or {})[k]:.3f}" for k in keys) + " |"
                for r in calibrated]
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
