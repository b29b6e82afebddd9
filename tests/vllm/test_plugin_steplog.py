"""The plugin's per-step log (read by ``ltrsched fit-cost``) and its counters, on vLLM's Scheduler with fake outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("vllm")

from ltrsched.steplog import read_step_log
from ltrsched.vllm.harness import HarnessConfig, add_all, build_scheduler, make_request, step

pytestmark = pytest.mark.vllm


def test_step_log_counts_prefill_decode_and_kv_tokens(tiny_llama_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "steps.jsonl"
    sched = build_scheduler(HarnessConfig(str(tiny_llama_dir), max_num_seqs=2, ltrsched={
        "policy": "ltr", "step_log": str(path)}))
    # Three requests, two slots: a and b run first (higher score), c waits until one of them finishes.
    add_all(sched, [make_request("a", 10, 3, score=2.0), make_request("b", 20, 3, score=1.0),
                    make_request("c", 5, 2, score=0.0)])
    num_steps = 0
    while sched.has_requests():
        step(sched)
        num_steps += 1
    sched.shutdown()
    recs = list(read_step_log(path))
    assert [r.step for r in recs] == list(range(num_steps))
    first, second, third = recs[0], recs[1], recs[2]
    assert (first.num_prefill_tokens, first.num_decode_tokens, first.num_kv_tokens) == (30, 0, 0)
    assert (first.num_running, first.num_waiting, first.num_scheduled_seqs) == (2, 1, 2)
    assert (second.num_prefill_tokens, second.num_decode_tokens, second.num_kv_tokens) == (0, 2, 30)
    assert (third.num_decode_tokens, third.num_kv_tokens) == (2, 32)
    # a and b finish after 3 tokens; c's 5-token prompt is the next prefill.
    assert recs[3].num_prefill_tokens == 5 and recs[3].num_waiting == 0
    assert sum(r.num_decode_tokens for r in recs) == 2 * 2 + 1  # tokens after each first one
    assert all(r.duration_s >= 0.0 for r in recs) and all(r.num_preempted == 0 for r in recs)
    stats = sched.ltrsched_stats()
    assert stats["num_steps"] == num_steps
    # Every request brought its own ltr_score, so the ranker was never called (nor loaded).
    assert (stats["num_client_scores"], stats["num_scored"], stats["num_score_batches"]) == (3, 0, 0)
    assert stats["overhead_s"] > 0.0
