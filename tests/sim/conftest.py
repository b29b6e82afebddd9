"""Helpers for simulator tests: a unit-cost engine and the per-step invariants."""

from __future__ import annotations

from collections.abc import Sequence

from ltrsched.policies import RankedRequests, StarvationConfig, make_policy
from ltrsched.request import Request
from ltrsched.sim.blocks import blocks_for
from ltrsched.sim.cost import CostModel
from ltrsched.sim.engine import Engine, EngineConfig, SimResult
from ltrsched.steplog import StepRecord

# One second per step, whatever runs: finish times count steps, so they can be checked by hand.
UNIT_COST = CostModel(base_s=1.0, prefill_s_per_token=0.0, decode_s_per_seq=0.0, kv_s_per_token=0.0,
                      name="unit")


def check_invariants(engine: Engine, stats: StepRecord, scheduled: dict[str, int]) -> None:
    cfg, pool, ranked = engine.config, engine.pool, engine.ranked
    assert sum(scheduled.values()) <= cfg.max_num_batched_tokens
    assert len(scheduled) <= cfg.max_num_seqs
    assert ranked.num_running <= cfg.max_num_seqs
    assert pool.num_free >= 0
    assert pool.num_held() + pool.num_free == pool.num_blocks  # KV blocks conserved
    running = ranked.running()
    running_ids = {r.request_id for r in running}
    for req in running:
        assert req.num_computed_tokens <= req.num_tokens
        assert pool.held(req.request_id) >= blocks_for(req.num_computed_tokens, pool.block_size)
    for rid in pool._held:  # only running requests hold blocks
        assert rid in running_ids, f"{rid} holds KV blocks but is not running"
    assert all(n > 0 for n in scheduled.values())
    assert stats.num_prefill_tokens + stats.num_decode_tokens == sum(scheduled.values())


def run_checked(requests: Sequence[Request], policy: str, config: EngineConfig, cost: CostModel = UNIT_COST,
                starvation: StarvationConfig | None = None, **policy_params: object) -> tuple[SimResult, Engine]:
    ranked = RankedRequests(make_policy(policy, **policy_params), starvation)
    engine = Engine(ranked, cost, config)
    engine.on_step = check_invariants
    return engine.run(requests), engine
