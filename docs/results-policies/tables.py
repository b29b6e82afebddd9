"""Compact tables and the issue-11 target checks from `ltrsched simulate --json` documents.

Usage: python docs/results-policies/tables.py OUT_DIR NAME [SATURATION_RATE]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RANK_ALONE = "ltr:starvation_threshold=0"
# The paper's Algorithm 1 (200 steps, evicting promotions); runs made while ltr's default was 200 wrote it shorter.
PAPERS = ("ltr:starvation_threshold=200:starvation_preempts=true", "ltr:starvation_preempts=true")
COLS = [("mean_per_token_latency", "mean s/tok", 3), ("p90_per_token_latency", "p90", 3),
        ("p99_per_token_latency", "p99", 3), ("mean_ttft", "mean TTFT", 2), ("p99_ttft", "p99 TTFT", 2),
        ("mean_max_waiting_time", "mean max-wait", 2), ("max_max_waiting_time", "max max-wait", 1),
        ("throughput_tokens_per_s", "tok/s", 0), ("num_preemptions", "preempt", 0)]


def checks(rows: dict[str, dict], row: dict, overload: bool) -> str:
    f, r = rows["fcfs"], rows[RANK_ALONE]
    room = f["mean_per_token_latency"] - r["mean_per_token_latency"]
    gain = (f["mean_per_token_latency"] - row["mean_per_token_latency"]) / room if room > 0.05 * \
        f["mean_per_token_latency"] else float("nan")  # no queue, nothing to gain: the share means nothing
    marks = ["W" if row["max_max_waiting_time"] <= f["max_max_waiting_time"] else "-",
             "T" if row["p99_ttft"] <= f["p99_ttft"] else "-",
             "P" if row["p99_per_token_latency"] <= 0.5 * f["p99_per_token_latency"] else "-",
             "G" if gain >= 0.95 else ("g" if gain != gain else "-"),
             "E" if row["num_preemptions"] <= 1.2 * r["num_preemptions"] else "-"]
    out = "".join(marks) + (f" {100 * gain:.0f}%" if gain == gain else " n/a")
    if overload:
        p = next(rows[name] for name in PAPERS if name in rows)
        ok = row["mean_per_token_latency"] * 2 <= p["mean_per_token_latency"] and \
            row["num_preemptions"] <= p["num_preemptions"]
        out += f" | {p['mean_per_token_latency'] / row['mean_per_token_latency']:.2f}x{' O' if ok else ''}"
    return out


def main() -> None:
    out, name = Path(sys.argv[1]), sys.argv[2]
    sat = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    doc = json.loads((out / f"{name}.json").read_text())
    by_rate: dict[object, dict[str, dict]] = {}
    for row in doc["results"]:
        by_rate.setdefault(row.get("rate"), {})[row["policy"]] = row
    for rate, rows in by_rate.items():
        overload = bool(sat) and rate is not None and rate >= 2 * sat
        print(f"\n{name}" + (f" @ {rate:g} req/s" if rate is not None else ""))
        head = ["policy", *[c[1] for c in COLS], "targets WTPGE, % of ranking-alone gain"]
        if overload:
            head[-1] += " | paper/this (O = 2x target met)"
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for pol, row in rows.items():
            vals = [f"{row[k]:.{d}f}" for k, _, d in COLS]
            print(f"| {pol} | " + " | ".join(vals) + f" | {checks(rows, row, overload)} |")


if __name__ == "__main__":
    main()
