"""Issue 11's targets, read off a `ltrsched bench serve` run dir: each policy against FCFS and ranking alone.

W: longest wait <= FCFS's; T: p99 TTFT <= FCFS's; P: p99 per-token latency <= half FCFS's; M: mean per-token gain
over FCFS >= 95% of ranking-alone's (`ltr-nostarve`); E: preemptions <= 1.2x ranking-alone's (recompute
preemptions counted from the plugin's step log). Usage: python docs/results-policies/engine_targets.py RUN_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def preemptions(run_dir: Path, tag: str, policy: str) -> int:
    path = run_dir / f"{tag}-{policy}-steps.jsonl"
    if not path.exists():
        return 0
    return sum(json.loads(line)["num_preempted"] for line in path.read_text().splitlines() if line.strip())


def main(run_dir: Path) -> None:
    doc = json.loads((run_dir / "summary.json").read_text())
    for tag, rows in doc["patterns"].items():
        by = {r["policy"]: r for r in rows}
        fcfs, alone = by["fcfs"], by.get("ltr-nostarve")
        print(f"\n{tag}\n| policy | mean s/tok | share of ranking-alone's gain | W | T | P | M | E (preemptions) |")
        print("|---|---|---|---|---|---|---|---|")
        for name, r in by.items():
            gain = fcfs["mean_per_token_latency"] - r["mean_per_token_latency"]
            alone_gain = fcfs["mean_per_token_latency"] - alone["mean_per_token_latency"] if alone else float("nan")
            share = gain / alone_gain if alone and alone_gain > 0 else float("nan")
            pre, pre_alone = preemptions(run_dir, tag, name), preemptions(run_dir, tag, "ltr-nostarve")
            marks = [r["max_max_waiting_time"] <= fcfs["max_max_waiting_time"],
                     r["p99_ttft"] <= fcfs["p99_ttft"],
                     r["p99_per_token_latency"] <= 0.5 * fcfs["p99_per_token_latency"],
                     share >= 0.95, pre <= 1.2 * pre_alone]
            cells = ["yes" if m else "no" for m in marks]
            print(f"| {name} | {r['mean_per_token_latency']:.3f} | {share:.0%} | " + " | ".join(cells[:4])
                  + f" | {cells[4]} ({pre} vs {pre_alone}) |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
