"""The plugin inside a real vLLM engine (tiny random Llama, engine core in this process), driven step by step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.vllm.engines import build_engine, engine_scheduler, internal_id, sampling
from tests.vllm.rankers import BOOM

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

@pytest.fixture(scope="module")
def fcfs_result(engine_env: None, tiny_llama_dir: Path) -> tuple[dict[str, int], dict[str, int]]:
    """The short-behind-long scenario under the plugin's fcfs (in-process engines run one at a time)."""
    engine = build_engine(tiny_llama_dir, {"policy": "fcfs"})
    try:
        return _run(engine, _short_behind_long())
    finally:
        engine.engine_core.shutdown()


@pytest.fixture(scope="module")
def ltr_engine(fcfs_result: Any, tiny_llama_dir: Path) -> Iterator[Any]:
    engine = build_engine(tiny_llama_dir, {"policy": "ltr", "ranker": "tests.vllm.rankers:BoomRanker"})
    yield engine
    engine.engine_core.shutdown()


def _run(engine: Any, arrivals: dict[int, list[tuple[str, str, Any]]]) -> tuple[dict[str, int], dict[str, int]]:
    """Step until done; (step of each request's first token, output tokens of each finished request)."""
    first: dict[str, int] = {}
    done: dict[str, int] = {}
    for k in range(2000):
        for rid, prompt, params in arrivals.get(k, []):
            engine.add_request(rid, prompt, params)
        for out in engine.step():
            if out.outputs[0].token_ids:
                first.setdefault(out.request_id, k)
            if out.finished:
                done[out.request_id] = len(out.outputs[0].token_ids)
        if k > max(arrivals) and not engine.has_unfinished_requests():
            return first, done
    raise AssertionError("the engine did not finish")


def _short_behind_long() -> dict[int, list[tuple[str, str, Any]]]:
    longs = [(f"long{i}", "write a short poem about the sea and the sky", sampling(40, -5.0)) for i in range(2)]
    shorts = [(f"short{i}", "what is the capital of france?", sampling(4, 1.0)) for i in range(4)]
    return {0: longs, 5: shorts}


def test_short_request_starts_earlier_under_ltr_than_fcfs(ltr_engine: Any, fcfs_result: Any) -> None:
    ltr_first, ltr_done = _run(ltr_engine, _short_behind_long())
    fcfs_first, fcfs_done = fcfs_result
    assert ltr_done == fcfs_done == {**{f"long{i}": 40 for i in range(2)}, **{f"short{i}": 4 for i in range(4)}}
    assert fcfs_first["short0"] >= 40  # FCFS: behind a 40-token request
    assert ltr_first["short0"] <= 6  # LTR: a long one is preempted at max_num_seqs
    assert max(ltr_first[f"short{i}"] for i in range(4)) < min(fcfs_first[f"short{i}"] for i in range(4))


def test_arrivals_scored_in_engine_from_the_recovered_prompt(ltr_engine: Any, fast_ranker_dir: Path) -> None:
    from ltrsched.predictor import load_ranker
    from tests.predictor.conftest import _load

    sched = engine_scheduler(ltr_engine)
    prompts = [e.prompt[:100] for e in _load()[1][:6]]  # the tiny vocabulary spends ~1 token per 2 chars
    before = sched.ltrsched_stats()
    for i, prompt in enumerate(prompts):
        ltr_engine.add_request(f"sg{i}", prompt, sampling(2))
    ltr_engine.step()  # the first schedule() scores all six in one batch
    batch = sched.ltr_scorer._ranker.calls[-1]
    assert len(batch) == len(prompts)
    expected = load_ranker(fast_ranker_dir).score(batch)
    entries = sched.waiting.entries
    scores = [entries[internal_id(entries, f"sg{i}")][1].score for i in range(len(prompts))]
    assert scores == pytest.approx(expected.tolist(), rel=1e-5)
    assert len(set(scores)) == len(scores)
    assert all(p in text for p, text in zip(prompts, batch, strict=True))  # the text came back from token ids
    while ltr_engine.has_unfinished_requests():
        ltr_engine.step()
    after = sched.ltrsched_stats()
    assert after["num_scored"] - before["num_scored"] == len(prompts)
    assert after["scoring_s"] > before["scoring_s"]


def test_failing_scorer_falls_back_without_losing_the_request(ltr_engine: Any) -> None:
    sched = engine_scheduler(ltr_engine)
    before = sched.ltrsched_stats()
    arrivals = {0: [("ok0", "explain how a scheduler orders requests", sampling(3)),
                    ("bad", f"the {BOOM} prompt breaks the ranker", sampling(5)),
                    ("ok1", "shortest job first lowers the mean latency", sampling(4))]}
    _, done = _run(ltr_engine, arrivals)
    assert done == {"ok0": 3, "bad": 5, "ok1": 4}
    after = sched.ltrsched_stats()
    assert after["num_score_failures"] - before["num_score_failures"] == 1
    assert after["num_scored"] - before["num_scored"] == 2  # the batch failed, then each alone: two scored
