"""Tables (ratios vs FCFS), CSV and the JSON document of a simulation run."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any

# (column title, metric key, format); a row shows what a reader compares first.
COLUMNS = (
    ("mean s/tok", "mean_per_token_latency", "{:.3f}"),
    ("p90 s/tok", "p90_per_token_latency", "{:.3f}"),
    ("p99 s/tok", "p99_per_token_latency", "{:.3f}"),
    ("mean TTFT s", "mean_ttft", "{:.2f}"),
    ("mean max-wait s", "mean_max_waiting_time", "{:.2f}"),
    ("tok/s", "throughput_tokens_per_s", "{:.0f}"),
    ("preempt", "num_preemptions_total", "{:.0f}"),
)


def _fmt(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def ratio_key(rows: Sequence[dict[str, Any]]) -> str:
    """The headline metric to divide: time to K finished for synthetic runs, else mean per-token latency."""
    return "time_to_k_finished_s" if rows and "time_to_k_finished_s" in rows[0] else "mean_per_token_latency"


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """``fcfs_ratio`` = FCFS's headline metric / this policy's (> 1: better than FCFS), per rate group."""
    key = ratio_key(rows)
    base: dict[Any, float] = {r.get("rate"): r[key] for r in rows if r["policy"] == "fcfs"}
    for r in rows:
        b = base.get(r.get("rate"))
        r["fcfs_ratio"] = b / r[key] if b is not None and r[key] and not math.isinf(r[key]) else None


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """A GitHub table of the rows; columns for synthetic figures appear when present."""
    cols = list(COLUMNS)
    if rows and "time_to_k_finished_s" in rows[0]:
        cols.insert(0, ("time to K s", "time_to_k_finished_s", "{:.1f}"))
    if rows and "finished_within_limit" in rows[0]:
        cols.insert(1, ("done in limit", "finished_within_limit", "{:.0f}"))
    with_rate = any("rate" in r for r in rows)
    head = (["rate"] if with_rate else []) + ["policy"] + [c[0] for c in cols] + ["FCFS / this", "sim wall s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = ([_fmt(r.get("rate"), "{:g}")] if with_rate else []) + [str(r["policy"])]
        cells += [_fmt(r.get(key), fmt) for _, key, fmt in cols]
        cells += [_fmt(r.get("fcfs_ratio"), "{:.2f}x"), _fmt(r.get("wall_s"), "{:.2f}")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """Scalar figures only (the latency quantiles stay in the JSON)."""
    keys: list[str] = []
    for r in rows:
        keys += [k for k, v in r.items() if k not in keys and not isinstance(v, list)]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow(r)
    return buf.getvalue()


def json_safe(value: Any) -> Any:
    """NaN and inf become None so the document is strict JSON."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
