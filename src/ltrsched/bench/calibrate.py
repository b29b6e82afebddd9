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
    run_dir: str = ""  # a folder written by `ltrsched bench serve`
    fit_on: list[str] = field(default_factory=list)  # policies whose step logs the cost is fitted on (default: every
    # plugin run in the folder)
    out: str = ""  # also write the fitted cost model here (JSON for --cost)


def _read_summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "summary.json"
    if not path.is_file():
        raise UserError(f"no summary.json in {run_dir}; point at a folder written by `ltrsched bench serve`")
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a summary written by `ltrsched bench serve` ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict) or "patterns" not in doc:
        raise UserError(f"{path}: not a summary written by `ltrsched bench serve` (no config or patterns)")
    if doc["config"].get("backend") != "offline":
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

    steps = []
    for path in logs:
        try:
            steps += list(read_step_log(path))
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
            raise UserError(f"{path}: not a step log ({exc}); rerun `ltrsched bench serve` or leave it out "
                            "with --fit-on") from None
    return fit(steps, name=name)


def _is_plugin_run(name: str) -> bool:
    from ltrsched.bench.runs import policy_run

    return policy_run(name).core is not None


def _sim_spec(run_name: str, recorded: dict[str, Any] | None) -> Any:
    """The simulator's ``PolicyConfig`` for a benchmark run: the policy keys of the plugin config recorded in the
    run's summary.json (runs made before it recorded them: today's settings for that run name)."""
    from ltrsched.bench.runs import policy_run
    from ltrsched.policies import PolicyConfig
    from ltrsched.policies.config import CONFIG_KEYS

    if recorded is None:
        core = policy_run(run_name).core
        if core is None:
            raise UserError(f"run {run_name!r} used vLLM's own scheduler; calibrate plugin runs (fcfs, ltr, ...)")
    else:
        core = PolicyConfig.from_mapping({k: v for k, v in recorded.items() if k in CONFIG_KEYS},
                                         f"{run_name} in summary.json")
    core.label = run_name
    return core


def _engine_config(bench_cfg: dict[str, Any]) -> Any:
    """The run's engine limits; KV never binds in these runs (max_num_seqs x max_model_len tokens fit), so the
    simulated cache is sized to fit."""
    from ltrsched.sim.engine import EngineConfig

    block = 16
    return EngineConfig(max_num_seqs=bench_cfg["max_num_seqs"],
                        max_num_batched_tokens=bench_cfg["max_num_batched_tokens"], block_size=block,
                        preemption="recompute",
                        num_gpu_blocks=bench_cfg["max_num_seqs"] * math.ceil(bench_cfg["max_model_len"] / block) + 1)


def _replay(name: str, tag: str, items: list[Any], recorded: dict[str, Any] | None, real: dict[str, Any],
            cost: Any, engine_cfg: Any, progress: bool) -> dict[str, Any]:
    """One real run replayed in the simulator: real against simulated figures, and the relative errors."""
    from ltrsched.metrics import summarize
    from ltrsched.sim.run import simulate
    from ltrsched.sim.scores import kendall_tau, make_quantiles, make_scores

    spec = _sim_spec(name, recorded)
    reads_score = spec.policy_class.reads_score
    scores = make_scores("ranker" if reads_score else "none", items, progress=progress)
    quantiles = make_quantiles("ranker", items, scores) if spec.policy_class.reads_quantiles else None
    result = simulate(spec, items, scores, cost, engine_cfg, quantiles=quantiles)
    sim = summarize(result.records, start_time=0.0)
    row: dict[str, Any] = {"pattern": tag, "policy": name, "num_requests": len(items),
                           "num_preemptions_sim": result.num_preemptions}
    if reads_score:
        row["ranker_tau"] = kendall_tau(scores, [it.output_len for it in items])
    for key in COMPARED:
        row[f"real_{key}"] = real.get(key, math.nan)
        row[f"sim_{key}"] = sim.get(key, math.nan)
        row[f"error_{key}"] = ratio(row[f"sim_{key}"], row[f"real_{key}"]) - 1.0
    return row


def calibrate(cfg: CalibrateConfig, progress: bool = True) -> dict[str, Any]:
    from ltrsched.bench.serve import step_log_path
    from ltrsched.bench.workload import load_prompts
    from ltrsched.sim.workload import WorkItem

    run_dir = Path(cfg.run_dir)
    doc = _read_summary(run_dir)
    bench_cfg = doc["config"]
    tags = list(doc.get("patterns", {}))
    if not tags:
        raise UserError(f"{run_dir}/summary.json lists no workload patterns")
    fit_on = cfg.fit_on or [name for name in bench_cfg["policies"] if _is_plugin_run(name)]
    logs = [step_log_path(run_dir, tag, name) for tag in tags for name in fit_on]
    missing = [str(p) for p in logs if not p.is_file()]
    if missing:
        raise UserError(f"missing step logs: {', '.join(missing)} (run `ltrsched bench serve` with --step-log)")
    cost, residuals = _fit(logs, name=f"fit:{run_dir.name}")
    if cfg.out:
        Path(cfg.out).write_text(json.dumps(cost.to_dict(), indent=1) + "\n", encoding="utf-8")
    prompts = {r.request_id: r.messages for r in load_prompts(
        bench_cfg["num_requests"], bench_cfg["max_output_len"], bench_cfg["max_prompt_len"], seed=bench_cfg["seed"])}
    engine_cfg = _engine_config(bench_cfg)
    rows: list[dict[str, Any]] = []
    for tag in tags:
        real_rows = {r["policy"]: r for r in doc["patterns"][tag]}
        for name, reqs in _read_records(run_dir / f"{tag}-records.csv").items():
            if name not in real_rows or not _is_plugin_run(name) or real_rows[name].get("num_failed"):
                continue
            unknown = [r["request_id"] for r in reqs if r["request_id"] not in prompts]
            if unknown:
                raise UserError(f"{run_dir}: request {unknown[0]} is not in the prompt sample the run's config "
                                "describes (was the run made with other --num-requests/--seed?)")
            items = [WorkItem(r["request_id"], r["arrival_s"], r["num_prompt_tokens"], r["num_output_tokens"],
                              prompts[r["request_id"]]) for r in reqs]
            rows.append(_replay(name, tag, items, doc.get("plugin_configs", {}).get(name), real_rows[name], cost,
                                engine_cfg, progress))
    return {"run_dir": str(run_dir), "fit_on": fit_on, "cost": cost.to_dict(), "residuals": residuals,
            "engine": asdict(engine_cfg), "results": rows}


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

