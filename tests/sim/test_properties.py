"""Property tests: random small workloads through the engine under every policy."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltrsched.policies import RankedRequests, StarvationConfig, make_policy
from ltrsched.request import Request
from ltrsched.sim.engine import Engine, EngineConfig
from tests.conftest import make_request
from tests.sim.conftest import UNIT_COST, check_invariants

request_lists = st.lists(
    st.tuples(st.floats(0, 20), st.integers(1, 60), st.integers(1, 60), st.floats(-5, 5)),
    min_size=1, max_size=14)


def _requests(spec: list[tuple[float, int, int, float]]) -> list[Request]:
    reqs = [make_request(f"r{i}", round(t, 2), out, prompt, score) for i, (t, out, prompt, score) in enumerate(spec)]
    for r in reqs:  # predicted quantiles for ltr-tie: a median falling with the score, a spread varying with the prompt
        median = 20.0 * 2.0 ** (-r.score / 2)
        spread = 1.5 + r.num_prompt_tokens % 7
        r.length_quantiles = (median / spread, median, median * spread)
    return reqs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=request_lists, policy=st.sampled_from(["fcfs", "ltr", "srtf-oracle", "sjf-oracle", "mlfq", "po",
                                                   "ltr-boost", "ltr-deadline", "ltr-first",
                                                   "ltr-tie"]),
       max_num_seqs=st.integers(1, 4), budget=st.integers(8, 64), blocks=st.integers(9, 20),
       preemption=st.sampled_from(["swap", "recompute"]), threshold=st.sampled_from([0, 5, 30]))
def test_every_request_finishes_once_and_invariants_hold(spec, policy, max_num_seqs, budget, blocks, preemption,
                                                         threshold) -> None:
    reqs = _requests(spec)
    cfg = EngineConfig(max_num_seqs=max_num_seqs, max_num_batched_tokens=budget, block_size=8,
                       num_gpu_blocks=max(blocks, 16), preemption=preemption)
    engine = Engine(RankedRequests(make_policy(policy), StarvationConfig(threshold, 3)), UNIT_COST, cfg)
    engine.on_step = check_invariants
    result = engine.run(reqs)
    assert sorted(r.request_id for r in result.records) == sorted(r.request_id for r in reqs)
    assert all(r.num_output_tokens == q.max_tokens for r, q in
               zip(sorted(result.records, key=lambda r: r.request_id), sorted(reqs, key=lambda q: q.request_id),
                   strict=True))
    assert engine.pool.num_free == engine.pool.num_blocks
    assert all(r.first_token_time <= r.finish_time for r in result.records)


def _longest_wait(reqs: list[Request], threshold: int, quantum: int, max_num_seqs: int, preempt: bool = True) -> int:
    """Most consecutive steps any unfinished, arrived request went without tokens."""
    engine = Engine(RankedRequests(make_policy("ltr"), StarvationConfig(threshold, quantum, preempt)), UNIT_COST,
                    EngineConfig(max_num_seqs=max_num_seqs, max_num_batched_tokens=4096, num_gpu_blocks=4096))
    idle: dict[str, int] = {}
    worst = [0]

    def hook(eng: Engine, stats, scheduled: dict[str, int]) -> None:
        for req in reqs:
            if req.arrival_time <= stats.start_s and not req.is_finished:
                idle[req.request_id] = 0 if req.request_id in scheduled else idle.get(req.request_id, 0) + 1
                worst[0] = max(worst[0], idle[req.request_id])

    engine.on_step = hook
    engine.run(reqs)
    return worst[0]


@settings(max_examples=25, deadline=None)
@given(outs=st.lists(st.integers(20, 80), min_size=3, max_size=10), max_num_seqs=st.integers(1, 2),
       gap=st.integers(1, 4))
def test_starvation_prevention_bounds_the_wait(outs: list[int], max_num_seqs: int, gap: int) -> None:
    # The worst case for a ranker: the first request has the lowest score while better ones keep arriving.
    threshold, quantum = 15, 4
    spec = [(0.0, 60, 4, -100.0)] + [(float(i * gap), o, 4, float(i)) for i, o in enumerate(outs, start=1)]
    n = len(spec)
    bound = threshold + n * (quantum + 1)
    assert _longest_wait(_requests(spec), threshold, quantum, max_num_seqs) <= bound
    # Promotion without evictions: a promoted request also waits for a running one to finish (<= 80 tokens).
    queued_bound = threshold + n * (max(outs) + quantum + 1)
    assert _longest_wait(_requests(spec), threshold, quantum, max_num_seqs, preempt=False) <= queued_bound


def test_without_prevention_the_same_wait_is_unbounded() -> None:
    # The counter-example the bound above guards against: 8 better requests of 60 tokens starve the first one.
    spec = [(0.0, 60, 4, -100.0)] + [(float(i), 60, 4, float(i)) for i in range(1, 9)]
    assert _longest_wait(_requests(spec), 0, 4, 1) > 15 + 9 * 5
    assert _longest_wait(_requests(spec), 15, 4, 1) <= 15 + 9 * 5


def _first_token_times(reqs: list[Request], policy: str, max_num_seqs: int, budget: int, preemption: str,
                       **params: float) -> dict[str, float]:
    cfg = EngineConfig(max_num_seqs=max_num_seqs, max_num_batched_tokens=budget, block_size=8, num_gpu_blocks=4096,
                       preemption=preemption)
    engine = Engine(RankedRequests(make_policy(policy, **params)), UNIT_COST, cfg)
    engine.on_step = check_invariants
    return {r.request_id: r.first_token_time for r in engine.run(reqs).records}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=request_lists, policy=st.sampled_from(["ltr-boost", "ltr-deadline", "ltr-tie"]), knob=st.floats(0, 6),
       max_num_seqs=st.integers(1, 4), budget=st.integers(8, 64), preemption=st.sampled_from(["swap", "recompute"]))
def test_fixed_keys_give_first_tokens_in_key_order(spec, policy, knob, max_num_seqs, budget, preemption) -> None:
    # A key fixed at arrival, no promotions, KV to spare: a request never gets its first token after a later
    # arrival with a worse key (admission is in key order and evictions take the worst running first). For
    # ltr-boost this is the promised bound: with scores in [lo, hi], nothing arriving more than
    # boost_s x (hi - lo) s after a request is served before it, however good its score.
    params = {"ltr-boost": {"boost_s": knob}, "ltr-deadline": {"slack_s": knob},
              "ltr-tie": {"age_tokens_per_s": 10 * knob, "beta": knob / 3}}[policy]
    reqs = _requests(spec)
    pol = make_policy(policy, **params)
    keys = {r.request_id: (pol.rank(r), r.arrival_time, i) for i, r in enumerate(reqs)}
    first = _first_token_times(reqs, policy, max_num_seqs, budget, preemption, **params)
    for i in reqs:
        for j in reqs:
            if i.arrival_time <= j.arrival_time and keys[i.request_id] < keys[j.request_id]:
                assert first[i.request_id] <= first[j.request_id], (i.request_id, j.request_id)
    if policy == "ltr-boost":
        lo, hi = min(r.score for r in reqs), max(r.score for r in reqs)
        for i in reqs:
            for j in reqs:
                if j.arrival_time > i.arrival_time + knob * (hi - lo):
                    assert first[i.request_id] <= first[j.request_id]
    if policy == "ltr-tie" and knob > 0:  # the aging bound: lengths in [lo, hi] tokens, aged 10 x knob tokens/s
        lengths = [pol.rank(r) - 10 * knob * r.arrival_time for r in reqs]
        window = (max(lengths) - min(lengths)) / (10 * knob)
        for i in reqs:
            for j in reqs:
                if j.arrival_time > i.arrival_time + window:
                    assert first[i.request_id] <= first[j.request_id]


@settings(max_examples=25, deadline=None)
@given(spec=request_lists, max_num_seqs=st.integers(1, 4), budget=st.integers(8, 64))
def test_boost_zero_is_fcfs(spec, max_num_seqs, budget) -> None:
    fcfs = _first_token_times(_requests(spec), "fcfs", max_num_seqs, budget, "swap")
    assert _first_token_times(_requests(spec), "ltr-boost", max_num_seqs, budget, "swap", boost_s=0.0) == fcfs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=request_lists, first_tokens=st.integers(1, 8), max_num_seqs=st.integers(1, 4), budget=st.integers(8, 64),
       preemption=st.sampled_from(["swap", "recompute"]))
def test_first_tokens_come_in_arrival_order(spec, first_tokens, max_num_seqs, budget, preemption) -> None:
    # Whatever the scores: a request still short of its first tokens is never passed by a later arrival (FCFS
    # among them, ahead of the rest; evictions take the worst running first), so first tokens come in arrival
    # order (ties in arrival by admission order).
    reqs = _requests(spec)
    first = _first_token_times(reqs, "ltr-first", max_num_seqs, budget, preemption, first_tokens=first_tokens)
    times = [first[r.request_id] for _, r in sorted(enumerate(reqs), key=lambda e: (e[1].arrival_time, e[0]))]
    assert times == sorted(times)
