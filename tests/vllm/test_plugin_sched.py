"""The plugin's scheduling decisions on vLLM's real Scheduler with fake model outputs (no model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ltrsched.errors import UserError
from ltrsched.vllm.harness import HarnessConfig, add_all, build_scheduler, make_request, step

pytestmark = pytest.mark.vllm


def _first_token_steps(sched: Any, arrivals: dict[int, list[Any]], max_steps: int = 400) -> dict[str, int]:
    """Run to completion; the step at which each request got its first output token."""
    first: dict[str, int] = {}
    for k in range(max_steps):
        add_all(sched, arrivals.get(k, []))
        out, _ = step(sched)
        for rid in out.num_scheduled_tokens:
            req = sched.requests.get(rid)
            if req is not None and req.num_output_tokens > 0:
                first.setdefault(rid, k)
        if k > max(arrivals) and not sched.has_requests():
            return first
    raise AssertionError("requests did not finish")


def _short_behind_long(tiny_llama_dir: Path, **cfg: Any) -> dict[str, int]:
    sched = build_scheduler(HarnessConfig(str(tiny_llama_dir), max_num_seqs=2, **cfg))
    longs = [make_request(f"long{i}", 10, 40, score=-5.0) for i in range(2)]
    shorts = [make_request(f"short{i}", 10, 4, score=1.0) for i in range(4)]
    return _first_token_steps(sched, {0: longs, 5: shorts})


def test_short_request_behind_long_ones_starts_earlier_under_ltr(tiny_llama_dir: Path) -> None:
    ltr = _short_behind_long(tiny_llama_dir, ltrsched={"policy": "ltr"})
    fcfs = _short_behind_long(tiny_llama_dir, ltrsched={"policy": "fcfs"})
    vllm_own = _short_behind_long(tiny_llama_dir, plugin=False)
    assert fcfs["short0"] == vllm_own["short0"] >= 40  # both wait for a long one to finish (40 tokens)
    assert ltr["short0"] <= 6  # preempts a long one at max_num_seqs (vLLM issue #40004) right after arrival
    assert max(ltr[f"short{i}"] for i in range(4)) < min(fcfs[f"short{i}"] for i in range(4))


def test_no_preemption_for_waiting_when_disabled(tiny_llama_dir: Path) -> None:
    off = _short_behind_long(tiny_llama_dir, ltrsched={"policy": "ltr", "preempt_for_waiting": False})
    assert off["short0"] >= 40


@pytest.mark.parametrize("threshold", [5, 9])
def test_starvation_promotion_at_configured_threshold(tiny_llama_dir: Path, threshold: int) -> None:
    quantum = 3
    sched = build_scheduler(HarnessConfig(str(tiny_llama_dir), max_num_seqs=1, ltrsched={
        "policy": "ltr", "starvation_threshold": threshold, "quantum": quantum, "starvation_preempts": True}))
    add_all(sched, [make_request("good", 10, 60, score=10.0), make_request("starved", 10, 60, score=-10.0)])
    got_tokens: list[int] = []
    for k in range(threshold + quantum + 3):
        out, _ = step(sched)
        if "starved" in out.num_scheduled_tokens:
            got_tokens.append(k)
    # Unscheduled for `threshold` steps, then promoted: it runs exactly `quantum` steps, then "good" is back.
    assert got_tokens == list(range(threshold, threshold + quantum))
    assert sched.ranked.num_promotions == 1
    assert sched.ltrsched_stats()["num_promotions"] == 1


def test_default_promotion_takes_the_next_free_slot_without_evicting(tiny_llama_dir: Path) -> None:
    sched = build_scheduler(HarnessConfig(str(tiny_llama_dir), max_num_seqs=1, ltrsched={
        "policy": "ltr", "starvation_threshold": 5, "quantum": 3}))
    add_all(sched, [make_request("good", 10, 12, score=10.0), make_request("starved", 10, 12, score=-10.0)])
    late = [make_request(f"better{i}", 10, 12, score=20.0) for i in range(3)]
    first: dict[str, int] = {}
    good_steps: list[int] = []
    for k in range(60):
        if k == 8:
            add_all(sched, late)  # better-ranked arrivals after the promotion: they queue behind it
        out, _ = step(sched)
        for rid in out.num_scheduled_tokens:
            first.setdefault(rid, k)
        if "good" in out.num_scheduled_tokens:
            good_steps.append(k)
    assert sched.ranked.num_promotions >= 1
    # "good" ran to its end without being evicted for the request promoted at step 5 ...
    assert good_steps == list(range(good_steps[0], good_steps[0] + len(good_steps)))
    # ... which then took the freed slot ahead of the better-ranked requests that arrived meanwhile.
    assert first["starved"] == good_steps[-1] + 1
    assert all(first["starved"] < first[r.request_id] for r in late)


def test_starvation_off_never_promotes(tiny_llama_dir: Path) -> None:
    sched = build_scheduler(HarnessConfig(str(tiny_llama_dir), max_num_seqs=1, ltrsched={
        "policy": "ltr", "starvation_threshold": 0}))
    add_all(sched, [make_request("good", 10, 30, score=10.0), make_request("starved", 10, 5, score=-10.0)])
    first = _first_token_steps(sched, {0: []})
    assert first["starved"] >= 30


@pytest.mark.parametrize("scheduling_policy", ["priority", "fcfs"])
def test_kv_pressure_victim_is_lowest_ranked(tiny_llama_dir: Path, scheduling_policy: str) -> None:
    # 16-token blocks, 7 blocks: three requests of 16 prompt tokens outgrow the cache after a few dozen tokens.
    # Under vLLM's fcfs the victim is the last running request, which the plugin keeps the lowest-ranked.
    sched = build_scheduler(HarnessConfig(str(tiny_llama_dir), max_num_seqs=3, num_blocks=7, block_size=16,
                                          scheduling_policy=scheduling_policy,
                                          ltrsched={"policy": "ltr", "preempt_for_waiting": False}))
    # Arrival order r0, r1, r2: vLLM's own victim would be r2 (last admitted / latest arrival). By rank it is r0.
    add_all(sched, [make_request("r0", 16, 80, score=-1.0), make_request("r1", 16, 80, score=5.0),
                    make_request("r2", 16, 80, score=3.0)])
    victims: list[str] = []
    for _ in range(200):
        out, _ = step(sched)
        victims += sorted(out.preempted_req_ids)
        if victims or not sched.has_requests():
            break
    assert victims == ["r0"]
    assert sched.ltrsched_stats()["num_kv_preemptions"] == 1


def test_bad_config_fails_at_startup_naming_the_key(tiny_llama_dir: Path) -> None:
    with pytest.raises(UserError, match=r"ltrsched\.'starvation_treshold'"):
        build_scheduler(HarnessConfig(str(tiny_llama_dir), ltrsched={"starvation_treshold": 100}))
    with pytest.raises(UserError, match=r"ltrsched\.quantum must be an integer"):
        build_scheduler(HarnessConfig(str(tiny_llama_dir), ltrsched={"quantum": "ten"}))
    with pytest.raises(UserError, match=r"ltrsched\.policy 'sjf'"):
        build_scheduler(HarnessConfig(str(tiny_llama_dir), ltrsched={"policy": "sjf"}))
    with pytest.raises(UserError, match=r"ltrsched\.ranker: no ranker folder at /nonexistent"):
        build_scheduler(HarnessConfig(str(tiny_llama_dir), ltrsched={"ranker": "/nonexistent"}))


def test_oracle_reads_true_length_and_requests_all_finish(tiny_llama_dir: Path) -> None:
    sched = build_scheduler(HarnessConfig(str(tiny_llama_dir), max_num_seqs=2, ltrsched={"policy": "srtf-oracle"}))
    lens = [30, 3, 20, 5, 8]
    reqs = [make_request(f"q{i}", 12, n, extra_args={"ltrsched_true_output_len": n}) for i, n in enumerate(lens)]
    first = _first_token_steps(sched, {0: reqs})
    assert len(first) == len(lens)
    by_len = sorted(range(len(lens)), key=lambda i: lens[i])
    assert [first[f"q{i}"] for i in by_len] == sorted(first.values())  # shortest first
    assert sched.ranked.num_running == 0 and len(sched.waiting) == 0 and not sched.waiting.entries


def test_step_log_accounts_every_token(tiny_llama_dir: Path, tmp_path: Path) -> None:
    from ltrsched.steplog import read_step_log

    path = tmp_path / "steps.jsonl"
    sched = build_scheduler(HarnessConfig(str(tiny_llama_dir), max_num_seqs=2, max_num_batched_tokens=64,
                                          ltrsched={"policy": "ltr", "step_log": str(path)}))
    longs = [make_request(f"long{i}", 100, 40, score=-5.0) for i in range(2)]
    shorts = [make_request(f"short{i}", 10, 4, score=1.0) for i in range(4)]
    _first_token_steps(sched, {0: longs, 5: shorts})
    stats = sched.ltrsched_stats()
    sched.shutdown()
    rows = list(read_step_log(path))
    assert [r.step for r in rows] == list(range(int(stats["num_steps"])))
    # Every output token but each request's first (sampled at the end of its prefill) is a decode token.
    num_prefills = 6 + sum(r.num_preempted for r in rows)  # a preempted request is prefilled again
    assert sum(r.num_decode_tokens for r in rows) == 2 * 40 + 4 * 4 - num_prefills
    assert sum(r.num_preempted for r in rows) == stats["num_preempted_for_waiting"] == 2
    assert max(r.num_prefill_tokens for r in rows) <= 64  # the token budget
    assert sum(r.num_prefill_tokens for r in rows) >= 2 * 100 + 4 * 10
    assert all(r.duration_s >= 0 for r in rows) and rows[5].num_waiting >= 2


def test_async_scheduler_base_orders_the_same(tiny_llama_dir: Path) -> None:
    """The AsyncScheduler variant (GPU default; the CPU platform turns async off, so built directly here)."""
    sync = _short_behind_long(tiny_llama_dir, ltrsched={"policy": "ltr"})
    asyn = _short_behind_long(tiny_llama_dir, async_scheduling=True, ltrsched={"policy": "ltr"})
    assert asyn == sync and asyn["short0"] <= 6



def test_risk_aware_key_gets_quantiles_from_the_ranker_map(tiny_llama_dir: Path, fast_ranker_dir: Path,
                                                          tmp_path: Path) -> None:
    import numpy as np

    from ltrsched.predictor.quantiles import load_quantile_map

    qmap = load_quantile_map(str(fast_ranker_dir))
    long_score, short_score = qmap.centers[0], qmap.centers[-1]  # the map's ends: longest and shortest predicted
    cfg = {"policy": "ltr-tie", "ranker": str(fast_ranker_dir), "params": {"beta": 0.0}}
    sched = build_scheduler(HarnessConfig(str(tiny_llama_dir), max_num_seqs=2, ltrsched=cfg))
    longs = [make_request(f"long{i}", 10, 40, score=long_score) for i in range(2)]
    shorts = [make_request(f"short{i}", 10, 4, score=short_score) for i in range(4)]
    first = _first_token_steps(sched, {0: longs, 5: shorts})
    assert max(first[f"short{i}"] for i in range(4)) < 40  # ahead of the long ones, as under ltr
    sched = build_scheduler(HarnessConfig(str(tiny_llama_dir), max_num_seqs=2, ltrsched=cfg))
    add_all(sched, [make_request("x", 10, 4, score=short_score)])
    step(sched)
    expected = qmap.predict(np.array([short_score]))[0]
    assert sched.waiting.entries["x"][1].length_quantiles == pytest.approx(tuple(expected))
    bare = tmp_path / "no-quantiles"
    bare.mkdir()
    (bare / "manifest.json").write_text('{"kind": "fast"}')
    with pytest.raises(UserError, match="no length quantiles"):
        build_scheduler(HarnessConfig(str(tiny_llama_dir), ltrsched={"policy": "ltr-tie", "ranker": str(bare)}))
