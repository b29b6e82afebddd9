"""The plugin in a real engine under KV pressure, and a bad config at engine start-up (one engine at a time)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vllm.engines import build_engine, engine_scheduler, internal_id, sampling

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_kv_pressure_victim_is_lowest_ranked(engine_env: None, tiny_llama_dir: Path) -> None:
    # CPU blocks hold 128 tokens; 4 blocks, three requests that each grow past 128 tokens: one must be evicted.
    engine = build_engine(tiny_llama_dir, {"policy": "ltr", "preempt_for_waiting": False}, max_num_seqs=4,
                     num_gpu_blocks_override=4)
    try:
        sched = engine_scheduler(engine)
        for rid, score in (("r0", -1.0), ("r1", 5.0), ("r2", 3.0)):  # vLLM's own victim: r2 (latest arrival)
            engine.add_request(rid, "write a short poem", sampling(200, score))
        ids = {rid: internal_id(sched.requests, rid) for rid in ("r0", "r1", "r2")}
        victims: list[str] = []
        done: dict[str, int] = {}
        while engine.has_unfinished_requests():
            for out in engine.step():
                if out.finished:
                    done[out.request_id] = len(out.outputs[0].token_ids)
            for rid in ("r0", "r1", "r2"):
                req = sched.requests.get(ids[rid]) if ids[rid] else None
                if req is not None and req.num_preemptions and rid not in victims:
                    victims.append(rid)
        assert victims[:1] == ["r0"]
        assert done == {"r0": 200, "r1": 200, "r2": 200}
    finally:
        engine.engine_core.shutdown()


def test_bad_config_fails_engine_startup_naming_the_key(engine_env: None, tiny_llama_dir: Path) -> None:
    with pytest.raises(Exception, match=r"ltrsched\.'quantun'"):
        build_engine(tiny_llama_dir, {"policy": "ltr", "quantun": 3})
