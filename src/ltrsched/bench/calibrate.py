"""``ltrsched bench calibrate RUN_DIR``: does the simulator, fitted to a real run's step log, predict that run?

Takes the folder a ``ltrsched bench serve`` run wrote (summary.json, per-request CSV, the plugin's step logs),
fits the simulator's step cost to the step logs (``ltrsched fit-cost``), replays the very same requests (arrival
times, prompt and output token counts from the CSV; prompt texts for the ranker) under the same policies and
engine limits, and prints real against simulated figures side by side. This is how we know the simulator's
what-if answers at paper scale rest on a model that matches a real engine.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ltrsched.errors import UserError
from ltrsched.report import cell, markdown_table, ratio

COMPARED = ("mean_per_token_latency", "p90_per_token_latency", "mean_ttft", "makespan_s")


@dataclass(slots=True)
class CalibrateConfig:
    run_dir: str = field(default="", metadata={"help": "a folder written by `ltrsched bench serve`"})
    fit_on: list[str] = field(default_factory=list, metadata={
        "help": "policies whose step logs the cost is fitted on (default: every plugin run in the folder)"})
    out: str = field(default="", metadata={"help": "also write the fitted cost model here (JSON for --cost)"})


def _read_summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "summary.json"
    if not path.is_file():
        raise UserError(f"no summary.json in {run_dir}; point at a folder written by `ltrsched bench serve`")
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("config", {}).get("backend") != "offline":
        raise UserError(f"{run_dir}: calibration needs a run of the offline backend (the OpenAI backend adds HTTP "
                        "time that the step log does not see)")
    return doc


def _read_records(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Per policy, the real run's requests: id, arrival, prompt and output tokens."""
    if not path.is_file():
        raise UserError(f"missing {path}: the run did not finish writing its records")
    by_policy: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as fh:
        for line_no, row in enumerate(csv.DictReader(fh), start=2):
            try:
                by_policy[row["policy"]].append({
                    "request_id": row["request_id"], "arrival_s": float(row["arrival_s"]),
                    "num_prompt_tokens": int(row["num_prompt_tokens"]),
                    "num_output_tokens": int(row["num_output_tokens"])})
            except (KeyError, ValueError) as exc:
                raise UserError(f"{path}:{line_no}: not a records row ({exc})") from None
    return by_policy


def _fit(logs: list[Path], name: str) -> tuple[Any, dict[str, float]]:
    from ltrsched.sim.cost import fit
    from ltrsched.steplog import read_step_log

    steps = [rec for path in logs for rec in read_step_log(path)]
    return fit(steps, name=name)


def _sim_spec(run_name: str, recorded: dict[str, Any] | None) -> Any:
    """The simulator's policy spec for a benchmark run: same policy, starvation and margin settings, as recorded in
    the run's summary.json (runs made before it recorded them: today's settings for that run name)."""
    from ltrsched.bench.runs import policy_run
    from ltrsched.bench.serve import plugin_config
    from ltrsched.sim.run import parse_policy

    run = policy_run(run_name)
    if run.policy == "vllm":
        raise UserError(f"run {run_name!r} used vLLM's own scheduler; calibrate plugin runs (fcfs, ltr, ...)")
    conf = recorded if recorded is not None else plugin_config(run)
    spec = parse_policy(conf["policy"])
    spec.label = run_name
    spec.params = dict(conf.get("params") or {})
    spec.starvation_threshold = int(conf["starvation_threshold"])
    spec.quantum = int(conf["quantum"])
    spec.starvation_preempts = bool(conf["starvation_preempts"])
    spec.displace_margin = float(conf["displace_margin"])
    return spec


def calibrate(cfg: CalibrateConfig, progress: bool = True) -> dict[str, Any]:
    from ltrsched.bench.workload import load_prompts
    from ltrsched.metrics import summarize
    from ltrsched.sim.engine import EngineConfig
    from ltrsched.sim.run import simulate
    from ltrsched.sim.scores import kendall_tau, make_scores
    from ltrsched.sim.workload import WorkItem

    run_dir = Path(cfg.run_dir)
    doc = _read_summary(run_dir)
    bench_cfg = doc["config"]
    tags = list(doc.get("patterns", {}))
    if not tags:
        raise UserError(f"{run_dir}/summary.json lists no workload patterns")
    fit_on = cfg.fit_on or [name for name in bench_cfg["policies"] if name != "vllm"]
    logs = [run_dir / f"{tag}-{name}-steps.jsonl" for tag in tags for name in fit_on]
    missing = [str(p) for p in logs if not p.is_file()]
    if missing:
        raise UserError(f"missing step logs: {', '.join(missing)} (run `ltrsched bench serve` with --step-log)")
    cost, residuals = _fit(logs, name=f"fit:{run_dir.name}")
    if cfg.out:
        Path(cfg.out).write_text(json.dumps(cost.to_dict(), indent=1) + "\n", encoding="utf-8")
    prompts = {r.request_id: r.messages for r in load_prompts(
        bench_cfg["num_requests"], bench_cfg["max_output_len"], bench_cfg["max_prompt_len"], seed=bench_cfg["seed"])}
    # KV never binds in these runs (max_num_seqs x max_model_len tokens fit), so the simulated cache is sized to fit.
    block = 16
    engine_cfg = EngineConfig(max_num_seqs=bench_cfg["max_num_seqs"],
                              max_num_batched_tokens=bench_cfg["max_num_batched_tokens"], block_size=block,
                              num_gpu_blocks=bench_cfg["max_num_seqs"] * math.ceil(bench_cfg["max_model_len"] / block)
                              + 1, preemption="recompute")
    rows: list[dict[str, Any]] = []
    for tag in tags:
        real_rows = {r["policy"]: r for r in doc["patterns"][tag]}
        records = _read_records(run_dir / f"{tag}-records.csv")
        for name, reqs in records.items():
            if name not in real_rows or name == "vllm" or real_rows[name].get("num_failed"):
                continue
            unknown = [r["request_id"] for r in reqs if r["request_id"] not in prompts]
            if unknown:
                raise UserError(f"{run_dir}: request {unknown[0]} is not in the prompt sample the run's config "
                                "describes (was the run made with other --num-requests/--seed?)")
            items = [WorkItem(r["request_id"], r["arrival_s"], r["num_prompt_tokens"], r["num_output_tokens"],
                              prompts[r["request_id"]]) for r in reqs]
            spec = _sim_spec(name, doc.get("plugin_configs", {}).get(name))
            scores = make_scores("ranker" if spec.name == "ltr" else "none", items, progress=progress)
            result = simulate(spec, items, scores, cost, engine_cfg)
            sim = summarize(result.records, start_time=0.0)
            row: dict[str, Any] = {"pattern": tag, "policy": name, "num_requests": len(items),
                                   "num_preemptions_sim": result.num_preemptions}
            if spec.name == "ltr":
                row["ranker_tau"] = kendall_tau(scores, [it.output_len for it in items])
            for key in COMPARED:
                row[f"real_{key}"] = real_rows[name].get(key, math.nan)
                row[f"sim_{key}"] = sim.get(key, math.nan)
                row[f"error_{key}"] = ratio(row[f"sim_{key}"], row[f"real_{key}"]) - 1.0
            rows.append(row)
    return {"run_dir": str(run_dir), "fit_on": fit_on, "cost": cost.to_dict(), "residuals": residuals,
            "engine": asdict(engine_cfg),
            "results": rows}


def format_calibration(doc: dict[str, Any]) -> str:
    res = doc["residuals"]
    head = (f"cost fitted on {', '.join(doc['fit_on'])} step logs of {doc['run_dir']}: "
            f"{int(res['num_steps'])} steps, r2 {res['r2']:.3f}, mean |error| per step "
            f"{100 * res['mean_abs_rel_error']:.1f}%, total time error {100 * res['total_rel_error']:+.1f}%")
    headers = ["pattern", "policy", "real mean s/tok", "sim mean s/tok", "error", "real p90", "sim p90",
               "real TTFT s", "sim TTFT s", "real makespan s", "sim makespan s", "error"]
    lines = []
    for r in doc["results"]:
        lines.append([r["pattern"], r["policy"], cell(r["real_mean_per_token_latency"], "{:.3f}"),
                      cell(r["sim_mean_per_token_latency"], "{:.3f}"),
                      cell(100 * r["error_mean_per_token_latency"], "{:+.1f}%"),
                      cell(r["real_p90_per_token_latency"], "{:.3f}"), cell(r["sim_p90_per_token_latency"], "{:.3f}"),
                      cell(r["real_mean_ttft"], "{:.1f}"), cell(r["sim_mean_ttft"], "{:.1f}"),
                      cell(r["real_makespan_s"], "{:.1f}"), cell(r["sim_makespan_s"], "{:.1f}"),
                      cell(100 * r["error_makespan_s"], "{:+.1f}%")])
    taus = {r["pattern"]: r["ranker_tau"] for r in doc["results"] if "ranker_tau" in r}
    if taus:
        head += "\nKendall tau of the ranker's scores on these requests: " + ", ".join(
            f"{pattern} {tau:.3f}" for pattern, tau in taus.items())
    return head + "\n" + markdown_table(headers, lines)

