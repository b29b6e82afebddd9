"""What every report shares: cell formatting, Markdown tables, ratios, strict JSON, and writing figures.

The simulator (``ltrsched.sim.report``), the real-engine benchmarks (``ltrsched.bench.report``) and the predictor's
evaluation choose their own columns; the mechanics live here once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# (summary key, column title, format): the latency figures every policy table shows first (ltrsched.metrics names).
LATENCY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("mean_per_token_latency", "mean s/tok", "{:.3f}"),
    ("p90_per_token_latency", "p90 s/tok", "{:.3f}"),
    ("p99_per_token_latency", "p99 s/tok", "{:.3f}"),
    ("mean_ttft", "mean TTFT s", "{:.2f}"),
    ("mean_max_waiting_time", "mean max-wait s", "{:.2f}"),
    ("max_max_waiting_time", "max max-wait s", "{:.1f}"),
)


def cell(value: Any, fmt: str = "{}") -> str:
    """``fmt`` applied to ``value``; missing, NaN or infinite values print as "-"."""
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return "-"
    return fmt.format(value)


def ratio(numerator: Any, denominator: Any) -> float:
    """numerator / denominator, NaN when either is missing, NaN or the denominator is 0."""
    if numerator is None or denominator is None or not denominator:
        return math.nan
    if math.isnan(numerator) or math.isnan(denominator) or math.isinf(denominator):
        return math.nan
    return float(numerator) / float(denominator)


RATIO_METRICS = ("mean_per_token_latency", "p90_per_token_latency", "p99_per_token_latency", "makespan_s",
                 "time_to_k_finished_s")  # lower is better for each: a ratio > 1 means better than the baseline


def ratio_name(metric: str, baseline: str = "fcfs") -> str:
    """The one key every report uses: ``<metric>_vs_<baseline>`` = the baseline's value / this row's."""
    return f"{metric}_vs_{baseline}"


def baseline_of(rows: Sequence[dict[str, Any]]) -> str:
    """FCFS (the plugin's or the simulator's ``fcfs``), else vLLM's own scheduler (``vllm``), else the first row."""
    names = [r["policy"] for r in rows]
    return next((n for n in ("fcfs", "vllm") if n in names), names[0] if names else "fcfs")


def add_ratios(rows: Sequence[dict[str, Any]], *metrics: str, baseline: str = "") -> str:
    """Add ``<metric>_vs_<baseline>`` (baseline / this: > 1 = lower than the baseline) to every row, comparing
    rows with the same ``rate`` (one group when there is none); returns the baseline's name."""
    baseline = baseline or baseline_of(rows)
    base = {r.get("rate"): r for r in rows if r["policy"] == baseline}
    for row in rows:
        row["baseline"] = baseline
        ref = base.get(row.get("rate"))
        for metric in metrics or RATIO_METRICS:
            if metric in row:
                value = ratio(ref.get(metric) if ref else None, row[metric])
                row[ratio_name(metric, baseline)] = None if math.isnan(value) else value
    return baseline


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]], title: str = "") -> str:
    """A GitHub table with padded columns, so it reads in a terminal as well as rendered."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = [title] if title else []
    lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join(lines)


def json_safe(value: Any) -> Any:
    """NaN and inf become None so the document is strict JSON."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def new_figure(ncols: int = 1, figsize: tuple[float, float] = (6, 4)) -> tuple[Any, Any]:
    """A matplotlib figure drawn off-screen (no display on a server); returns (figure, axes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=figsize)


def save_figure(fig: Any, path: str | Path) -> None:
    """Write a finished figure as a PNG (creating its folder) and free it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_cdf(ax: Any, values: Sequence[float], label: str) -> None:
    """One empirical CDF curve (sorted ``values`` against the fraction at or below them)."""
    xs = sorted(values)
    if xs:
        ax.plot(xs, [(i + 1) / len(xs) for i in range(len(xs))], label=label)
