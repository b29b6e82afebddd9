"""Run one workload under several policies side by side and collect their figures.

A policy spec is ``name[:key=value...]``: keys ``starvation_threshold`` (steps; 200 for ``ltr`` by default, 0 = off,
the default for every other policy), ``quantum`` (10) and ``displace_margin`` are the host's; any other key is the
policy's own parameter (e.g. ``mlfq:base_quantum_s=0.03:growth=10``, ``approx-sjf:fraction=0.3:region=head``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ltrsched.errors import UserError
from ltrsched.metrics import finished_within, summarize, time_to_k_finished
from ltrsched.policies import POLICIES, RankedRequests, StarvationConfig, make_policy
from ltrsched.request import Request
from ltrsched.sim.cost import CostModel
from ltrsched.sim.engine import Engine, EngineConfig, SimResult
from ltrsched.sim.workload import WorkItem

HOST_KEYS = ("starvation_threshold", "quantum", "displace_margin")
DEFAULT_STARVATION = {"ltr": 200}  # steps; the paper's setting for its ranking policy, off for the rest


@dataclass(slots=True)
class PolicySpec:
    label: str  # the spec as written: the name reports use
    name: str  # registered policy name
    params: dict[str, Any] = field(default_factory=dict)  # the policy's own parameters
    starvation_threshold: int = 0  # steps before promotion; 0 = off
    quantum: int = 10  # scheduled steps a promotion lasts
    displace_margin: float = 0.0  # rank units a waiting request must win by to evict a running one


def _value(text: str) -> Any:
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_policy(spec: str) -> PolicySpec:
    name, *pairs = spec.strip().split(":")
    if name not in POLICIES:
        raise UserError(f"unknown policy {name!r} in {spec!r}; known: {', '.join(sorted(POLICIES.names()))}")
    out = PolicySpec(spec.strip(), name, starvation_threshold=DEFAULT_STARVATION.get(name, 0))
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq:
            raise UserError(f"policy spec {spec!r}: {pair!r} is not key=value")
        if key in HOST_KEYS:
            setattr(out, key, type(getattr(out, key))(_value(value)))
        else:
            out.params[key] = _value(value)
    make_policy(name, **out.params)  # fail now, naming the bad parameter
    return out


def build_requests(items: Sequence[WorkItem], scores: np.ndarray, extra_output: int = 0) -> list[Request]:
    """Fresh requests (runs mutate them); ``extra_output`` adds tokens to each output (PO's stated length)."""
    return [Request(request_id=it.id, arrival_time=it.arrival_time, num_prompt_tokens=it.prompt_len,
                    max_tokens=it.output_len + extra_output, score=float(s),
                    true_output_len=it.output_len + extra_output)
            for it, s in zip(items, scores, strict=True)]


def simulate(spec: PolicySpec, items: Sequence[WorkItem], scores: np.ndarray, cost: CostModel,
             config: EngineConfig, stop_after_finished: int = 0, time_limit_s: float = 0.0,
             progress: Callable[[int], None] | None = None, engine_hook: Callable[[Engine], None] | None = None,
             ) -> SimResult:
    policy = make_policy(spec.name, **spec.params)
    extra = int(getattr(policy, "perception_tokens", 0))
    ranked = RankedRequests(policy, StarvationConfig(spec.starvation_threshold, spec.quantum), spec.displace_margin)
    engine = Engine(ranked, cost, config)
    if engine_hook is not None:
        engine_hook(engine)
    return engine.run(build_requests(items, scores, extra), stop_after_finished, time_limit_s, progress)


def figures(spec: PolicySpec, result: SimResult, stop_after_finished: int = 0,
            time_limit_s: float = 0.0) -> dict[str, Any]:
    """One policy's row: ``policy`` plus summarize()'s plain names and the run's own counts."""
    row: dict[str, Any] = {"policy": spec.label}
    row |= summarize(result.records, start_time=0.0)
    row |= {"num_steps": result.num_steps, "sim_time_s": result.sim_time_s, "wall_s": result.wall_s,
            "num_promotions": result.num_promotions, "num_preemptions_total": result.num_preemptions,
            "num_unfinished": result.num_unfinished}
    if stop_after_finished:
        row["time_to_k_finished_s"] = time_to_k_finished(result.records, stop_after_finished)
    if time_limit_s:
        row["finished_within_limit"] = finished_within(result.records, time_limit_s)
    return row
