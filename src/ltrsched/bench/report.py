"""Benchmark reports: a table with ratios against FCFS, per-request CSV, a JSON document, and plots."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ltrsched.bench.runs import RunResult
from ltrsched.metrics import summarize, synthetic_figures
from ltrsched.report import LATENCY_COLUMNS, cell, markdown_table, new_figure, ratio_name, save_figure
from ltrsched.report import plot_cdf as add_cdf

COLUMNS = (*LATENCY_COLUMNS,  # (summary key, header, format)
           ("makespan_s", "makespan s", "{:.1f}"),
           ("throughput_tokens_per_s", "tok/s", "{:.1f}"))


def summarize_run(res: RunResult, k: int = 0, time_limit_s: float = 0.0) -> dict[str, Any]:
    """The paper's metrics (metrics.summarize, clock starting at t = 0) plus the run's own facts."""
    out: dict[str, Any] = {"policy": res.name, **summarize(res.records, start_time=0.0)}
    out["num_failed"] = res.num_failed
    out["engine_start_s"] = res.engine_start_s
    out |= synthetic_figures(res.records, k, time_limit_s)
    for key, value in res.plugin.items():
        out[f"plugin_{key}"] = value
    scoring = res.plugin.get("scoring_s")
    if scoring is not None and res.wall_s > 0:
        out["scoring_share"] = scoring / res.wall_s  # of engine wall time in the run
    learning = res.plugin.get("online_learn_s")
    if learning and res.wall_s > 0:
        out["learning_share"] = learning / res.wall_s  # the online learner's CPU time, of engine wall time
    return out


def format_table(rows: Sequence[dict[str, Any]], title: str = "") -> str:
    """Rows after ``ltrsched.report.add_ratios``: every ratio is the baseline's value / this row's."""
    baseline = rows[0].get("baseline", "fcfs") if rows else "fcfs"
    extra = [k for k in ("time_to_k_finished_s", "finished_within_limit") if rows and k in rows[0]]
    learning = any("learning_share" in r for r in rows)  # a column only when some run learned online
    headers = ["policy", *[h for _, h, _ in COLUMNS], f"{baseline} / this mean", f"{baseline} / this makespan",
               *extra, "scoring %", *(["learning %"] if learning else [])]
    lines = []
    for r in rows:
        cells = [str(r["policy"])] + [cell(r.get(key), fmt) for key, _, fmt in COLUMNS]
        cells.append(cell(r.get(ratio_name("mean_per_token_latency", baseline)), "{:.2f}x"))
        cells.append(cell(r.get(ratio_name("makespan_s", baseline)), "{:.3f}x"))
        cells += [cell(r[k], "{:.1f}") for k in extra]
        for key in ("scoring_share", "learning_share") if learning else ("scoring_share",):
            share = r.get(key)
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
