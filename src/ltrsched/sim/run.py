"""Run one workload under several policies side by side and collect their figures.

A policy is given as a ``PolicyConfig`` spec, ``name[:key=value...]``: keys ``starvation_threshold`` (steps; the
policy's own default, 400 for ``ltr`` and 0 for the rest; 0 = off), ``quantum`` (10), ``starvation_preempts``
(true/false) and ``displace_margin`` are the host's; any other key is the policy's own parameter (e.g.
``mlfq:base_quantum_s=0.03:growth=10``, ``approx-sjf:fraction=0.3:region=head``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ltrsched.errors import UserError
from ltrsched.metrics import summarize, synthetic_figures
from ltrsched.policies import PolicyConfig
from ltrsched.request import Request
from ltrsched.sim.cost import CostModel
from ltrsched.sim.engine import Engine, EngineConfig, SimResult
from ltrsched.sim.workload import TRACE_FILES, WorkItem


def build_requests(items: Sequence[WorkItem], scores: np.ndarray, extra_output: int = 0,
                   quantiles: np.ndarray | None = None) -> list[Request]:
    """Fresh requests (runs mutate them); ``extra_output`` adds tokens to each output (PO's stated length)."""
    reqs = [Request(request_id=it.id, arrival_time=it.arrival_time, num_prompt_tokens=it.prompt_len,
                    max_tokens=it.output_len + extra_output, score=float(s),
                    true_output_len=it.output_len + extra_output)
            for it, s in zip(items, scores, strict=True)]
    if quantiles is not None:
        for req, (p10, p50, p90) in zip(reqs, np.asarray(quantiles, dtype=float).tolist(), strict=True):
            req.length_quantiles = (p10, p50, p90)
    return reqs


def simulate(spec: PolicyConfig, items: Sequence[WorkItem], scores: np.ndarray, cost: CostModel,
             config: EngineConfig, stop_after_finished: int = 0, time_limit_s: float = 0.0,
             progress: Callable[[int], None] | None = None, engine_hook: Callable[[Engine], None] | None = None,
             quantiles: np.ndarray | None = None) -> SimResult:
    """``quantiles`` ([n, 3] p10/p50/p90 tokens) is required by policies that read them (``reads_quantiles``)."""
    ranked = spec.build()
    if ranked.policy.reads_quantiles and quantiles is None:
        raise UserError(f"policy {spec.label!r} reads length quantiles; pass them (sim.scores.make_quantiles)")
    engine = Engine(ranked, cost, config)
    if engine_hook is not None:
        engine_hook(engine)
    requests = build_requests(items, scores, ranked.policy.extra_output_tokens(), quantiles)
    return engine.run(requests, stop_after_finished, time_limit_s, progress)


def figures(spec: PolicyConfig, result: SimResult, stop_after_finished: int = 0,
            time_limit_s: float = 0.0) -> dict[str, Any]:
    """One policy's row: ``policy`` plus summarize()'s plain names and the run's own counts."""
    row: dict[str, Any] = {"policy": spec.label}
    row |= summarize(result.records, start_time=0.0)
    row |= {"num_steps": result.num_steps, "sim_time_s": result.sim_time_s, "wall_s": result.wall_s,
            "num_promotions": result.num_promotions, "num_preemptions_total": result.num_preemptions,
            "num_unfinished": result.num_unfinished}
    ptl = np.array([r.per_token_latency_s for r in result.records])
    row["per_token_latency_quantiles"] = (np.quantile(ptl, np.linspace(0, 1, 101)).tolist() if ptl.size else [])
    row |= synthetic_figures(result.records, stop_after_finished, time_limit_s)
    return row


WORKLOADS = ("burst", "poisson", "gamma", "synthetic", "trace")


@dataclass(slots=True)
class SimulateConfig:
    workload: str = "burst"  # burst (all at t=0), poisson/gamma (--rates), synthetic (all at t=0; time to --first-k and
    # finished in --time-limit-s), trace (the trace's own timestamps)
    num_requests: int = 2000  # requests: the first N of the data
    policies: list[str] = field(default_factory=lambda: ["fcfs", "mlfq", "ltr", "srtf-oracle"])  #
    # policy specs name[:key=value...], e.g. ltr:starvation_threshold=0, mlfq:growth=2
    cost: str = "llama3-8b-a100"  # cost preset, or a JSON file from fit-cost
    data: str = "sharegpt"  # sharegpt, random, azure-conv, azure-code, mooncake-conv or mooncake-synthetic
    scores: str = ""  # ranker (default ranker), ranker:PATH, tau:X, oracle or none; default: ranker for sharegpt, else
    # tau:0.5
    rates: list[float] = field(default_factory=lambda: [8.0])  # req/s for poisson/gamma
    cv: float = 1.0  # coefficient of variation of gamma arrival gaps
    first_k: int = 1000  # synthetic: report the time until this many finished
    time_limit_s: float = 300.0  # synthetic: report how many finished by then
    paper_filter: bool = True  # ShareGPT: keep 4 <= prompt <= 1024 and prompt+output <= 20480 (off for synthetic, as
    # the paper)
    traces_dir: str = ""  # folder with the trace files (azure/..., mooncake/...); default: the traces shipped in the
    # package
    seed: int = 0  # seed for arrivals, random data and tau noise
    trace_speedup: float = 1.0  # trace workload: divide the trace's arrival times by this (2 = twice the load)


def load_cost(name: str) -> CostModel:
    import json
    from pathlib import Path

    from ltrsched.sim.cost import get_preset

    path = Path(name)
    if name.endswith(".json"):
        if not path.is_file():
            raise UserError(f"no cost file at {path}; write one with `ltrsched fit-cost STEPLOG --out {path}`")
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
            return CostModel(**values)
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
            raise UserError(f"{path}: not a cost model ({exc}); regenerate it with ltrsched fit-cost") from None
    return get_preset(name)


def check_config(cfg: SimulateConfig) -> None:
    """Flags that would otherwise run an empty simulation or be silently ignored."""
    if cfg.num_requests < 1:
        raise UserError(f"--num-requests must be at least 1, got {cfg.num_requests}")
    if cfg.traces_dir and cfg.data not in TRACE_FILES:
        raise UserError(f"--traces-dir is read only for trace data (--data {', '.join(TRACE_FILES)}); "
                        f"--data {cfg.data} does not use it")
    if cfg.workload not in WORKLOADS:
        raise UserError(f"unknown --workload {cfg.workload!r}; use one of {', '.join(WORKLOADS)}")


def run_config(cfg: SimulateConfig, engine_cfg: EngineConfig, progress: bool = True) -> dict[str, Any]:
    """Everything ``ltrsched simulate`` does, returning its JSON document."""
    from ltrsched.report import add_ratios
    from ltrsched.sim.scores import kendall_tau, make_quantiles, make_scores
    from ltrsched.sim.workload import load_items, with_arrivals

    check_config(cfg)
    specs = [PolicyConfig.parse(p) for p in cfg.policies]
    if not specs:
        raise UserError("--policies is empty; name at least one, e.g. fcfs,ltr")
    cost = load_cost(cfg.cost)
    synthetic = cfg.workload == "synthetic"
    items = load_items(cfg.data, cfg.num_requests, cfg.traces_dir or None, cfg.seed,
                       paper_filter=cfg.paper_filter and not synthetic)
    scores_spec = cfg.scores or ("ranker" if cfg.data == "sharegpt" else "tau:0.5")
    scores = make_scores(scores_spec, items, cfg.seed, progress)
    quantiles = (make_quantiles(scores_spec, items, scores, cfg.seed)
                 if any(s.policy_class.reads_quantiles for s in specs) else None)
    stop_k = cfg.first_k if synthetic else 0
    limit = cfg.time_limit_s if synthetic else 0.0
    groups: list[tuple[float | None, list[WorkItem]]]
    if cfg.workload in ("poisson", "gamma"):
        groups = [(rate, with_arrivals(items, cfg.workload, rate, cfg.cv, cfg.seed)) for rate in cfg.rates]
    else:
        if cfg.workload == "trace":
            if cfg.trace_speedup <= 0:
                raise UserError(f"--trace-speedup must be > 0, got {cfg.trace_speedup}")
            group = [replace(it, arrival_time=it.arrival_time / cfg.trace_speedup) for it in items]
        else:
            group = with_arrivals(items, "burst")
        groups = [(None, group)]
    rows: list[dict[str, Any]] = []
    for rate, group in groups:
        for spec in specs:
            bar = _bar(f"{spec.label}" + (f" @ {rate:g}/s" if rate else ""), len(group), progress)
            result = simulate(spec, group, scores, cost, engine_cfg, stop_k, limit, bar.update if bar else None,
                              quantiles=quantiles)
            if bar is not None:
                bar.close()
            row = figures(spec, result, stop_k, limit)
            if rate is not None:
                row = {"rate": rate, **row}
            rows.append(row)
    add_ratios(rows)
    from dataclasses import asdict

    return {"workload": {**asdict(cfg), "num_items": len(items)},
            "engine": asdict(engine_cfg), "cost": cost.to_dict(), "scores": scores_spec,
            "kendall_tau": kendall_tau(scores, [it.output_len for it in items]), "results": rows}


def _bar(desc: str, total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    import sys

    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, mininterval=0.5)
