"""Benchmark reports: a table with ratios against FCFS, per-request CSV, a JSON document, and plots."""

from __future__ import annotations

import csv
import math
import statistics
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


def across_repeats(repeats: Sequence[Sequence[dict[str, Any]]],
                   step_times: Sequence[Sequence[float | None]]) -> list[dict[str, Any]]:
    """One row per policy over repeats of a pattern (rows after ``add_ratios``; ``step_times[k][i]``: row i's
    engine step time against repeat k's baseline engine): each repeat's mean s/token, ratio to the baseline and
    step time, their medians (what ranks, and what the rate plot draws), and the ratio of the means over all
    repeats."""
    baseline = repeats[0][0]["baseline"]
    key = ratio_name("mean_per_token_latency", baseline)
    by_policy: dict[str, list[tuple[dict[str, Any], float | None]]] = {}
    for rows, times in zip(repeats, step_times, strict=True):
        for row, t in zip(rows, times, strict=True):
            by_policy.setdefault(row["policy"], []).append((row, t))
    base_mean = statistics.fmean(row["mean_per_token_latency"] for row, _ in by_policy[baseline])
    out = []
    for policy, runs in by_policy.items():
        means = [row["mean_per_token_latency"] for row, _ in runs]
        ratios = [row.get(key) for row, _ in runs]
        known = [r for r in ratios if r is not None]
        out.append({"policy": policy, "baseline": baseline, "repeats": len(runs),
                    "mean_per_token_latency": statistics.median(means), "mean_per_token_latency_by_repeat": means,
                    f"{key}_by_repeat": ratios, key: statistics.median(known) if known else None,
                    f"{key}_of_means": base_mean / statistics.fmean(means),
                    "p99_per_token_latency": statistics.median(row["p99_per_token_latency"] for row, _ in runs),
                    "max_max_waiting_time": statistics.median(row["max_max_waiting_time"] for row, _ in runs),
                    "step_time_vs_baseline_by_repeat": [t for _, t in runs]})
    return out


def format_repeats(rows: Sequence[dict[str, Any]], title: str = "") -> str:
    """``across_repeats`` rows as a table: every repeat's figure, then the median."""
    baseline = rows[0]["baseline"] if rows else "fcfs"
    key = ratio_name("mean_per_token_latency", baseline)

    def each(values: Sequence[Any], fmt: str) -> str:
        return " / ".join(cell(v, fmt) for v in values)

    headers = ["policy", "mean s/tok, each repeat", "median", f"{baseline} / this, each repeat", "median",
               f"{baseline} / this of the means", "median p99 s/tok", "median max max-wait s",
               f"step time vs {baseline}, each repeat"]
    lines = [[str(r["policy"]), each(r["mean_per_token_latency_by_repeat"], "{:.3f}"),
              cell(r["mean_per_token_latency"], "{:.3f}"), each(r[f"{key}_by_repeat"], "{:.2f}x"),
              cell(r[key], "{:.2f}x"), cell(r[f"{key}_of_means"], "{:.2f}x"),
              cell(r["p99_per_token_latency"], "{:.3f}"), cell(r["max_max_waiting_time"], "{:.1f}"),
              each(r["step_time_vs_baseline_by_repeat"], "{:.2f}x")]
             for r in rows]
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
