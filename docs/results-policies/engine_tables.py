"""Markdown tables of a `ltrsched bench serve` run dir, with the step logs' preemptions and prefill tokens.

Usage: python docs/results-policies/engine_tables.py RUN_DIR
"""
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

d = Path(sys.argv[1]); doc = json.loads((d / "summary.json").read_text())
for tag, rows in doc["patterns"].items():
    recs = defaultdict(list)
    with open(d / f"{tag}-records.csv") as f:
        for r in csv.DictReader(f):
            recs[r["policy"]].append(r)
    fc = next(r for r in rows if r["policy"] == "fcfs")
    print(f"\n{tag}")
    print("| policy | mean s/tok | p90 | p99 | mean TTFT s | p99 TTFT s | mean max-wait s | max max-wait s | makespan s | tok/s | preemptions | prefill tokens | mean s/tok, >5 tokens | x lower mean vs fcfs | makespan vs fcfs | scoring % |")
    print("|---" * 16 + "|")
    for r in rows:
        name = r["policy"]
        steps = d / f"{tag}-{name.replace(':', '_').replace('=', '-')}-steps.jsonl"
        cand = [p for p in d.glob(f"{tag}-*-steps.jsonl")]
        pre = pf = None
        for p in cand:
            if p.name == f"{tag}-{name}-steps.jsonl" or p == steps:
                rs = [json.loads(l) for l in p.read_text().splitlines() if l.strip()]
                pre = sum(x["num_preempted"] for x in rs); pf = sum(x["num_prefill_tokens"] for x in rs)
        big = [float(x["per_token_latency_s"]) for x in recs[name] if int(x["num_output_tokens"]) > 5]
        ttft = [float(x["first_token_s"]) - float(x["arrival_s"]) for x in recs[name]]
        g = lambda k, f="{:.3f}": f.format(r[k]) if r.get(k) is not None else "-"
        print(f"| {name} | {g('mean_per_token_latency')} | {g('p90_per_token_latency')} | {g('p99_per_token_latency')} | {g('mean_ttft','{:.2f}')} | {np.quantile(ttft,0.99):.2f} | {g('mean_max_waiting_time','{:.2f}')} | {g('max_max_waiting_time','{:.1f}')} | {g('makespan_s','{:.1f}')} | {g('throughput_tokens_per_s','{:.1f}')} | {pre} | {pf} | {np.mean(big):.3f} | {fc['mean_per_token_latency']/r['mean_per_token_latency']:.2f}x | {r['makespan_s']/fc['makespan_s']:.3f} | {100*(r.get('scoring_share') or 0):.2f} |")
