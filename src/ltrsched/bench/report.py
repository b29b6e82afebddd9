"""Benchmark reports: a table with ratios against FCFS, per-request CSV, a JSON document, and plots."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ltrsched.bench.runs import RunResult
from ltrsched.metrics import finished_within, summarize, time_to_k_finished
from ltrsched.report import LATENCY_COLUMNS, cell, markdown_table, new_figure, ratio, save_figure
from ltrsched.report import plot_cdf as add_cdf

COLUMNS = (*LATENCY_COLUMNS,  # (summary key, header, format)
           ("makespan_s", "makespan s", "{:.1f}"),
           ("throughput_tokens_per_s", "tok/s", "{:.1f}"))


def summarize_run(res: RunResult, k: int = 0, time_limit_s: float = 0.0) -> dict[str, Any]:
    """The paper's metrics (metrics.summarize, clock starting at t = 0) plus the run's own facts."""
    out: dict[str, Any] = {"policy": res.name, **summarize(res.records, start_time=0.0)}
    out["num_failed"] = res.num_failed
    out["engine_start_s"] = res.engine_start_s
    if k:
        out[f"time_to_{k}_finished_s"] = time_to_k_finished(res.records, k)
    if time_limit_s:
        out[f"finished_within_{time_limit_s:g}s"] = finished_within(res.records, time_limit_s)
    for key, value in res.plugin.items():
        out[f"plugin_{key}"] = value
    scoring = res.plugin.get("scoring_s")
    if scoring is not None and res.wall_s > 0:
        out["scoring_share"] = scoring / res.wall_s  # of engine wall time in the run
    return out


def baseline_of(rows: Sequence[dict[str, Any]]) -> str:
    """FCFS: the plugin's ``fcfs`` run, else vLLM's own scheduler (``vllm``), else the first row."""
    names = [r["policy"] for r in rows]
    return next((n for n in ("fcfs", "vllm") if n in names), names[0] if names else "fcfs")


def add_ratios(rows: list[dict[str, Any]], baseline: str = "") -> None:
    """``ratio_mean_vs_B``: B's mean per-token latency / this row's (x lower); ``makespan_vs_B``: this / B's."""
    baseline = baseline or baseline_of(rows)
    base = next((r for r in rows if r["policy"] == baseline), None)
    for row in rows:
        row["baseline"] = baseline
        if base is None:
            continue
        row["ratio_mean_vs_" + baseline] = ratio(base["mean_per_token_latency"], row["mean_per_token_latency"])
        row["ratio_p90_vs_" + baseline] = ratio(base["p90_per_token_latency"], row["p90_per_token_latency"])
        row["makespan_vs_" + baseline] = ratio(row.get("makespan_s"), base.get("makespan_s"))


def format_table(rows: Sequence[dict[str, Any]], title: str = "", baseline: str = "") -> str:
    baseline = baseline or baseline_of(rows)
    extra = [k for k in rows[0] if k.startswith(("time_to_", "finished_within_"))] if rows else []
    headers = ["policy", *[h for _, h, _ in COLUMNS], f"x lower mean vs {baseline}", f"makespan vs {baseline}",
               *extra, "scoring %"]
    lines = []
    for r in rows:
        cells = [str(r["policy"])] + [cell(r.get(key), fmt) for key, _, fmt in COLUMNS]
        cells.append(cell(r.get("ratio_mean_vs_" + baseline), "{:.2f}x"))
        cells.append(cell(r.get("makespan_vs_" + baseline), "{:.3f}"))
        cells += [cell(r[k], "{:.1f}") if isinstance(r[k], float) else str(r[k]) for k in extra]
        share = r.get("scoring_share")
        cells.append(cell(100 * share if share is not None else None, "{:.2f}"))
        lines.append(cells)
    return markdown_table(headers, lines, title)


def write_records_csv(path: Path, results: Sequence[RunResult], tag: str = "") -> None:
    """One row per request per run: the raw data behind every figure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", "policy", "request_id", "arrival_s", "first_token_s", "finish_s", "num_prompt_tokens",
                    "num_output_tokens", "per_token_latency_s", "max_waiting_time_s"])
        for res in results:
            for r in res.records:
                w.writerow([tag, res.name, r.request_id, f"{r.arrival_time:.4f}", f"{r.first_token_time:.4f}",
                            f"{r.finish_time:.4f}", r.num_prompt_tokens, r.num_output_tokens,
                            f"{r.per_token_latency_s:.5f}", f"{r.max_waiting_time_s:.4f}"])


def plot_cdf(path: Path, results: Sequence[RunResult], title: str) -> None:
    """Per-token latency CDF per policy (log x): the figure that shows where SJF wins and what it costs."""
    fig, ax = new_figure()
    for res in results:
        add_cdf(ax, [r.per_token_latency_s for r in res.records], res.name)
    ax.set_xscale("log")
    ax.set_xlabel("per-token latency (s/token)")
    ax.set_ylabel("fraction of requests")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def plot_vs_rate(path: Path, rows_by_rate: dict[float, list[dict[str, Any]]],
                 key: str = "mean_per_token_latency") -> None:
    """``key`` against arrival rate, one line per policy."""
    fig, ax = new_figure()
    policies = sorted({r["policy"] for rows in rows_by_rate.values() for r in rows})
    rates = sorted(rows_by_rate)
    for pol in policies:
        ys = [next((r[key] for r in rows_by_rate[rate] if r["policy"] == pol), math.nan) for rate in rates]
        ax.plot(rates, ys, marker="o", label=pol)
    ax.set_xlabel("arrival rate (req/s)")
    ax.set_ylabel(key.replace("_", " ") + " (s)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    save_figure(fig, path)
