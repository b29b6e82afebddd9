"""Contention-free view of a `ltrsched bench serve` burst: each request's latency in engine steps and in modelled time.

Usage: python docs/results-policies/normalize_burst.py RUN_DIR [TAG]

The wall clock of a contended machine stretches some policies' runs more than others; the schedule itself (which
step finished which request) does not depend on it. Modelled time = a least-squares step cost (busy seconds vs
prefill, decode and KV tokens) fitted on every step of every policy together, summed over the steps.
"""
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

d = Path(sys.argv[1]); tag = sys.argv[2] if len(sys.argv) > 2 else "burst"
recs = defaultdict(list)
with open(d / f"{tag}-records.csv") as f:
    for r in csv.DictReader(f):
        recs[r["policy"]].append(r)
steps = {}
for pol in recs:
    p = d / f"{tag}-{pol}-steps.jsonl"
    steps[pol] = [json.loads(l) for l in p.read_text().splitlines() if l.strip()]
X = np.array([[1, s["num_prefill_tokens"], s["num_decode_tokens"], s["num_kv_tokens"]] for v in steps.values() for s in v], float)
y = np.array([s["busy_s"] for v in steps.values() for s in v])
coef, *_ = np.linalg.lstsq(X, y, rcond=None)
print("cost per step: %.4f s + %.2e s/prefill tok + %.2e s/decode tok + %.2e s/kv tok" % tuple(coef))
out = {}
for pol, rs in recs.items():
    st = steps[pol]
    end = np.array([s["start_s"] + s["duration_s"] for s in st])
    t0 = st[0]["start_s"] + st[0]["duration_s"] - min(float(r["first_token_s"]) for r in rs)
    model = np.cumsum([coef @ [1, s["num_prefill_tokens"], s["num_decode_tokens"], s["num_kv_tokens"]] for s in st])
    wall_tok = sum(int(r["num_output_tokens"]) for r in rs) / (end[-1] - t0)
    lat_steps, lat_model, lat_wall, ttft_model = [], [], [], []
    for r in rs:
        k = min(int(np.searchsorted(end, t0 + float(r["finish_s"]) - 1e-6)), len(st) - 1)
        a = min(int(np.searchsorted(end, t0 + float(r["arrival_s"]) - 1e-6)), len(st) - 1)
        n = int(r["num_output_tokens"])
        lat_steps.append((k + 1 - a) / n)
        lat_model.append((model[k] - (model[a - 1] if a > 0 else 0.0)) / n)
        lat_wall.append(float(r["per_token_latency_s"]))
        f = min(int(np.searchsorted(end, t0 + float(r["first_token_s"]) - 1e-6)), len(st) - 1)
        ttft_model.append(model[f] - (model[a - 1] if a > 0 else 0.0))
    big = [m for m, r in zip(lat_model, rs) if int(r["num_output_tokens"]) > 5]
    out[pol] = (np.mean(lat_wall), np.mean(lat_steps), np.mean(lat_model), model[-1], len(st), wall_tok,
                np.mean(ttft_model), np.mean(big))
fc = out["fcfs"]
print("| policy | wall mean s/tok | wall tok/s | steps | mean steps/token | modelled mean s/tok | modelled mean s/tok, > 5 tokens | modelled mean TTFT s | modelled makespan s | x lower vs fcfs: wall | steps | modelled | modelled makespan vs fcfs |")
print("|---" * 13 + "|")
for pol, (w, s, m, mk, n, tok, tt, bg) in out.items():
    print(f"| {pol} | {w:.3f} | {tok:.1f} | {n} | {s:.2f} | {m:.3f} | {bg:.3f} | {tt:.1f} | {mk:.1f} | {fc[0]/w:.2f}x | {fc[1]/s:.2f}x | {fc[2]/m:.2f}x | {mk/fc[3]:.3f} |")
