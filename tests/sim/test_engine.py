from __future__ import annotations

import numpy as np
import pytest

from ltrsched.errors import UserError
from ltrsched.policies import RankedRequests, StarvationConfig, make_policy
from ltrsched.sim.engine import Engine, EngineConfig
from ltrsched.sim.run import build_requests
from ltrsched.sim.workload import load_items, random_items
from ltrsched.steplog import StepRecord
from tests.conftest import make_request
from tests.sim.conftest import UNIT_COST, run_checked


def three() -> list:
    # Outputs 30, 10, 20 tokens; scores rank them shortest first (higher = shorter).
    return [make_request("a", output_len=30, score=-30), make_request("b", output_len=10, score=-10),
            make_request("c", output_len=20, score=-20)]


@pytest.mark.parametrize(("policy", "order", "finish"), [
    ("fcfs", ["a", "b", "c"], [30.0, 40.0, 60.0]),
    ("sjf-oracle", ["b", "c", "a"], [10.0, 30.0, 60.0]),
    ("srtf-oracle", ["b", "c", "a"], [10.0, 30.0, 60.0]),
    ("ltr", ["b", "c", "a"], [10.0, 30.0, 60.0]),
])
def test_three_requests_finish_in_policy_order(policy: str, order: list[str], finish: list[float]) -> None:
    # One slot, one second per step: the first step prefills and samples token 1, each later step one token.
    result, _ = run_checked(three(), policy, EngineConfig(max_num_seqs=1, num_gpu_blocks=64))
    assert [r.request_id for r in result.records] == order
    assert [r.finish_time for r in result.records] == finish
    assert all(r.num_output_tokens == {"a": 30, "b": 10, "c": 20}[r.request_id] for r in result.records)


def test_chunked_prefill_splits_a_long_prompt_over_the_budget() -> None:
    req = make_request("long", output_len=3, prompt_len=100)
    result, engine = run_checked([req], "fcfs", EngineConfig(max_num_batched_tokens=32, num_gpu_blocks=64))
    # ceil(100 / 32) = 4 prefill steps (the last samples token 1), then 2 decode steps.
    assert engine.step_index == 6
    assert result.records[0].first_token_time == 4.0


def test_preemptive_ranking_evicts_a_running_request_for_a_better_arrival() -> None:
    slow = make_request("slow", output_len=50, score=-50)
    fast = make_request("fast", arrival_time=5.5, output_len=5, score=-5)
    result, _ = run_checked([slow, fast], "ltr", EngineConfig(max_num_seqs=1, num_gpu_blocks=64))
    assert [r.request_id for r in result.records] == ["fast", "slow"]
    assert result.records[1].num_preemptions == 1
    fcfs, _ = run_checked([make_request("slow", output_len=50), make_request("fast", 5.5, 5)], "fcfs",
                          EngineConfig(max_num_seqs=1, num_gpu_blocks=64))
    assert [r.request_id for r in fcfs.records] == ["slow", "fast"]


@pytest.mark.parametrize("preemption", ["swap", "recompute"])
@pytest.mark.parametrize("policy", ["fcfs", "ltr", "srtf-oracle", "mlfq", "po", "approx-sjf"])
def test_invariants_hold_every_step_under_kv_pressure(policy: str, preemption: str) -> None:
    items = load_items("sharegpt", 60)
    scores = np.array([-it.output_len for it in items], dtype=float)
    reqs = build_requests(items, scores, 15 if policy == "po" else 0)
    for i, r in enumerate(reqs):
        r.arrival_time = i * 0.01
    # A cache of 1,600 tokens forces preemptions; every prompt+output still fits on its own.
    cfg = EngineConfig(max_num_seqs=8, max_num_batched_tokens=256, block_size=16, num_gpu_blocks=100,
                       preemption=preemption)
    reqs = [r for r in reqs if r.num_prompt_tokens + r.max_tokens <= 1600]
    result, engine = run_checked(reqs, policy, cfg, starvation=StarvationConfig(50, 5))
    ids = [r.request_id for r in result.records]
    assert sorted(ids) == sorted(r.request_id for r in reqs)  # every request finishes exactly once
    assert len(set(ids)) == len(ids)
    assert engine.pool.num_free == engine.pool.num_blocks
    assert all(r.num_output_tokens == next(q.max_tokens for q in reqs if q.request_id == r.request_id)
               for r in result.records[:10])
    if policy != "fcfs":
        assert result.num_preemptions > 0


def test_swap_keeps_computed_tokens_and_recompute_redoes_them() -> None:
    items = random_items(80, seed=3)
    scores = np.array([-it.output_len for it in items], dtype=float)
    for mode in ("swap", "recompute"):
        reqs = [r for r in build_requests(items, scores) if r.num_prompt_tokens + r.max_tokens <= 1600]
        for i, r in enumerate(reqs):
            r.arrival_time = i * 0.5
        ranked = RankedRequests(make_policy("srtf-oracle"))
        engine = Engine(ranked, UNIT_COST, EngineConfig(max_num_seqs=32, num_gpu_blocks=100, preemption=mode))
        steps: list[StepRecord] = []
        engine.on_step = lambda eng, stats, sched, steps=steps: steps.append(stats)
        result = engine.run(reqs)
        assert result.num_preemptions > 0
        prefill = sum(s.num_prefill_tokens for s in steps)
        prompts = sum(r.num_prompt_tokens for r in reqs)
        if mode == "swap":  # every prompt token computed once; KV went out and came back
            assert prefill == prompts
            assert sum(s.num_swap_tokens for s in steps) > 0
        else:  # recomputed prompts and generated tokens
            assert prefill > prompts
            assert sum(s.num_swap_tokens for s in steps) == 0


def test_prompt_longer_than_the_kv_cache_is_refused_with_a_clear_error() -> None:
    req = make_request("huge", prompt_len=5000, output_len=10)
    with pytest.raises(UserError, match=r"huge.*5010 tokens.*holds 1600.*--num-gpu-blocks"):
        run_checked([req], "fcfs", EngineConfig(num_gpu_blocks=100))


def test_unknown_preemption_mode_is_a_user_error() -> None:
    with pytest.raises(UserError, match="preemption mode"):
        EngineConfig(preemption="drop")
