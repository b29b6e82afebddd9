"""``ltrsched demo``: a burst of ShareGPT prompts on SmolLM2 under fcfs, ltr and srtf-oracle, sized to finish in time.

Machines of the same kind differ 2-3x in engine speed, so the demo measures the engine first (a short probe on
the fcfs engine, then reused for the fcfs run) and picks how many prompts fit the time budget.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ltrsched.bench import report
from ltrsched.bench.runs import POLICY_RUNS, PRIORITY_ONLY, RunResult, plugin_available, policy_run
from ltrsched.bench.workload import BenchRequest, burst, load_prompts, total_tokens
from ltrsched.report import add_ratios
from ltrsched.vllm.server import EngineConfig

GPU_COMMAND = """\
# On a GPU with a real model (vLLM 0.32-0.33):
ltrsched serve --model /path/to/Llama-3-8B-Instruct --dtype bfloat16 --no-enforce-eager \\
  --max-num-seqs 256 --policy ltr --port 8000
ltrsched bench serve --backend openai --url http://127.0.0.1:8000 --policies ltr --workload burst --num-requests 2000
# or directly with vLLM:
python -m vllm.entrypoints.openai.api_server --model /path/to/model --scheduling-policy priority \\
  --scheduler-cls ltrsched.vllm.make_scheduler --additional-config '{"ltrsched": {"policy": "ltr"}}'"""


@dataclass(slots=True)
class DemoConfig(EngineConfig):
    budget_s: float = 840.0  # whole demo time budget, s (sizes the burst)
    max_run_s: float = 150.0  # cap on one policy's burst, s
    min_requests: int = 24  # never fewer prompts than this (a queue must form)
    max_requests: int = 200  # never more prompts than this
    max_output_len: int = 512  # cap on replayed output lengths, tokens
    policies: list[str] = field(default_factory=lambda: ["fcfs", "ltr", "srtf-oracle"])  #
    # policies to compare (fcfs first: it hosts the speed probe)
    out_dir: str = "runs/demo"  # plot, CSV and JSON go here


def probe_speed(engine: Any, pool: list[BenchRequest], num: int, tokens: int) -> float:
    """Output tokens/s with ``num`` real prompts decoding ``tokens`` each at once (prefill included)."""
    from ltrsched.bench.offline import serve

    probe = [replace(r, request_id="probe-" + r.request_id, output_len=tokens, arrival_s=0.0) for r in pool[:num]]
    res = serve(engine, probe, POLICY_RUNS["fcfs"], progress=False)
    return total_tokens(probe) / res.wall_s


def size_burst(pool: list[BenchRequest], tokens_per_s: float, run_s: float, lo: int, hi: int) -> list[BenchRequest]:
    """The longest prefix of ``pool`` whose output tokens take about ``run_s`` at ``tokens_per_s``."""
    budget = tokens_per_s * run_s
    n, used = 0, 0
    while n < min(hi, len(pool)) and used + pool[n].output_len <= budget:
        used += pool[n].output_len
        n += 1
    return pool[:max(n, lo)]


def run_demo(cfg: DemoConfig, progress: bool = True) -> dict[str, Any]:
    from ltrsched.bench.offline import open_engine, serve
    from ltrsched.predictor import ensure_default_ranker
    from ltrsched.vllm.models import smollm2_dir

    t_start = time.perf_counter()
    say = print
    model = str(smollm2_dir()) if cfg.model == "smollm2" else cfg.model
    say(f"[demo] model: {model} ({cfg.dtype}, max_num_seqs {cfg.max_num_seqs})")
    ensure_default_ranker(progress=progress)
    say(f"[demo] ranker ready ({time.perf_counter() - t_start:.0f} s so far)")
    pool = load_prompts(cfg.max_requests, cfg.max_output_len)
    names = list(cfg.policies)
    if not plugin_available():
        names = [PRIORITY_ONLY.get(n, n) for n in names]
        say(f"[demo] the ltrsched.vllm plugin is not installed: priority-only mode instead ({', '.join(names)})")
    runs = [policy_run(n) for n in names]
    results: list[RunResult] = []
    burst_reqs: list[BenchRequest] = []
    for i, run in enumerate(runs):
        with open_engine(cfg, run, model) as (engine, start_s):
            if i == 0:
                speed = probe_speed(engine, pool, cfg.max_num_seqs, 128)  # prefill included, so a safe under-estimate
                left = cfg.budget_s - (time.perf_counter() - t_start) - (len(runs) - 1) * (start_s + 10)
                run_s = max(20.0, min(cfg.max_run_s, 0.8 * left / len(runs)))
                burst_reqs = burst(size_burst(pool, speed, run_s, cfg.min_requests, cfg.max_requests))
                say(f"[demo] engine start {start_s:.0f} s; probe: {speed:.0f} output tok/s at {cfg.max_num_seqs} "
                    f"sequences -> burst of {len(burst_reqs)} ShareGPT prompts ({total_tokens(burst_reqs)} "
                    f"output tokens, ~{run_s:.0f} s per policy) so the demo fits {cfg.budget_s:.0f} s")
            res = serve(engine, burst_reqs, run, progress=progress)
            res.engine_start_s = start_s
            results.append(res)
        say(f"[demo] {run.name}: done in {res.wall_s:.0f} s")
    rows = [report.summarize_run(r) for r in results]
    add_ratios(rows)
    title = (f"burst of {len(burst_reqs)} ShareGPT prompts, replayed lengths <= {cfg.max_output_len}, "
             f"SmolLM2-135M {cfg.dtype}, max_num_seqs {cfg.max_num_seqs}")
    say(report.format_table(rows, title))
    out = Path(cfg.out_dir)
    report.plot_cdf(out / "demo-cdf.png", results, title="demo burst: per-token latency")
    report.write_records_csv(out / "demo-records.csv", results, "demo")
    say(f"[demo] plot: {out / 'demo-cdf.png'}; per-request CSV: {out / 'demo-records.csv'}")
    say(f"[demo] total {time.perf_counter() - t_start:.0f} s")
    say(GPU_COMMAND)
    sys.stdout.flush()
    return {"rows": rows, "num_requests": len(burst_reqs)}
