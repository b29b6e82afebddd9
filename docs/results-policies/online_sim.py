"""The rankers of a natural-length `bench serve` run, replayed in the calibrated simulator (docs/results.md,
2026-12-07): the same arrivals and lengths, the step cost fitted to the run's own step logs, one ranker's scores
at a time under the same `ltr` policy, so the comparison carries no engine noise.

    python docs/results-policies/online_sim.py RUN_DIR TAG --served runs/smol-ranker --state STATE.npz

TAG is a pattern of the run (e.g. poisson-0.33-r1). Rankers: the shipped default ranker, the served-label one,
the online blend as STATE saved it (its weight), the online model at full weight, and the true lengths (oracle).
The online scores are those the engine would give at start-up; in the run the blend kept learning.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ltrsched.bench.calibrate import _engine_config, _fit, _read_records, _read_summary
from ltrsched.bench.serve import step_log_path
from ltrsched.bench.workload import load_prompts
from ltrsched.metrics import summarize
from ltrsched.policies import PolicyConfig
from ltrsched.predictor import default_ranker, load_ranker
from ltrsched.predictor.blend import from_header
from ltrsched.predictor.curve import quality
from ltrsched.predictor.data import prompt_text
from ltrsched.predictor.online import OnlineConfig, OnlineLinear, load_state
from ltrsched.sim.run import simulate
from ltrsched.sim.workload import WorkItem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("tag")
    ap.add_argument("--served", required=True, help="the served-label ranker's folder")
    ap.add_argument("--state", required=True, help="the online_state the ltr-online run started from")
    args = ap.parse_args()
    run_dir = Path(args.run_dir)
    doc = _read_summary(run_dir)
    cfg = doc["config"]
    logs = [p for name in cfg["policies"] if (p := step_log_path(run_dir, args.tag, name)).is_file()]
    cost, res = _fit(logs, name=f"fit:{run_dir.name}")
    prompts = {r.request_id: r.messages for r in load_prompts(cfg["num_requests"], cfg["max_output_len"],
                                                              cfg["max_prompt_len"], seed=cfg["seed"])}
    reqs = next(iter(_read_records(run_dir / f"{args.tag}-records.csv").values()))
    items = [WorkItem(r["request_id"], r["arrival_s"], r["num_prompt_tokens"], r["num_output_tokens"],
                      prompts[r["request_id"]]) for r in reqs]
    texts = [prompt_text(it.prompt) for it in items]
    lens = np.array([it.output_len for it in items])
    capped = lens >= cfg.get("natural_max_tokens", 768)
    shipped = np.asarray(default_ranker().score(texts), dtype=np.float64)
    model = OnlineLinear(OnlineConfig())
    blend, _ = from_header(load_state(args.state, model), model)
    scores = {"shipped": shipped, "served-label": np.asarray(load_ranker(args.served).score(texts), np.float64),
              f"online blend (weight {blend.weight:g})": blend.combine(shipped, texts),
              "online model, full weight": model.snapshot().score(texts, shipped), "oracle": -lens.astype(float)}
    engine_cfg = _engine_config(cfg)
    print(f"{args.tag}: {len(items)} requests; cost fitted on {len(logs)} step logs (r2 {res['r2']:.3f})")
    print("| ranker | 2C - 1 | sim mean s/tok | sim p90 s/tok | sim mean TTFT s |")
    print("|---|---|---|---|---|")
    fcfs = summarize(simulate(PolicyConfig.parse("fcfs"), items, np.zeros(len(items)), cost, engine_cfg).records,
                     start_time=0.0)
    print(f"| fcfs | | {fcfs['mean_per_token_latency']:.4f} | {fcfs['p90_per_token_latency']:.4f} | "
          f"{fcfs['mean_ttft']:.2f} |")
    for name, s in scores.items():
        out = summarize(simulate(PolicyConfig.parse("ltr"), items, s, cost, engine_cfg).records, start_time=0.0)
        print(f"| {name} | {quality(s, lens, capped):.3f} | {out['mean_per_token_latency']:.4f} | "
              f"{out['p90_per_token_latency']:.4f} | {out['mean_ttft']:.2f} |")


if __name__ == "__main__":
    main()
