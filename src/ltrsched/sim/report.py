"""Tables (ratios vs FCFS), CSV and the JSON document of a simulation run."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from ltrsched.report import LATENCY_COLUMNS, cell, json_safe, ratio_name
from ltrsched.report import markdown_table as _table

__all__ = ["COLUMNS", "json_safe", "markdown_table", "ratio_key", "to_csv"]

# (metric key, column title, format), as ltrsched.report: a row shows what a reader compares first.
COLUMNS = (*LATENCY_COLUMNS,
           ("throughput_tokens_per_s", "tok/s", "{:.0f}"),
           ("num_preemptions_total", "preempt", "{:.0f}"))


def ratio_key(rows: Sequence[dict[str, Any]]) -> str:
    """The headline metric to divide: time to K finished for synthetic runs, else mean per-token latency."""
    return "time_to_k_finished_s" if rows and "time_to_k_finished_s" in rows[0] else "mean_per_token_latency"


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """A GitHub table of the rows; columns for synthetic figures appear when present."""
    cols = list(COLUMNS)
    if rows and "time_to_k_finished_s" in rows[0]:
        cols.insert(0, ("time_to_k_finished_s", "time to K s", "{:.1f}"))
    if rows and "finished_within_limit" in rows[0]:
        cols.insert(1, ("finished_within_limit", "done in limit", "{:.0f}"))
    headline = ratio_key(rows)
    with_rate = any("rate" in r for r in rows)
    head = (["rate"] if with_rate else []) + ["policy"] + [c[1] for c in cols] + ["FCFS / this", "sim wall s"]
    lines = []
    for r in rows:
        cells = ([cell(r.get("rate"), "{:g}")] if with_rate else []) + [str(r["policy"])]
        cells += [cell(r.get(key), fmt) for key, _, fmt in cols]
        vs_fcfs = r.get(ratio_name(headline, r.get("baseline", "fcfs")))
        cells += [cell(vs_fcfs, "{:.2f}x"), cell(r.get("wall_s"), "{:.2f}")]
        lines.append(cells)
    return _table(head, lines)


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
