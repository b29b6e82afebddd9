"""RankedRequests: the queue every host drives, checked against a naive sort and with starvation on."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ltrsched.policies import RankedRequests, StarvationConfig, make_policy
from ltrsched.request import Request
from tests.conftest import make_request


def run_loop(ranked: RankedRequests, reqs: list[Request], max_num_seqs: int, max_steps: int = 100_000):
    """A minimal host: every running request decodes one token per step; arrivals are at step = arrival_time.

    Returns (finish step by id, longest unscheduled streak by id, first scheduled step by id).
    """
    pending = sorted(reqs, key=lambda r: r.arrival_time)
    finish: dict[str, int] = {}
    first: dict[str, int] = {}
    last_seen: dict[str, int] = {}
    streak: dict[str, int] = {}
    step = 0
    while len(finish) < len(reqs):
        assert step < max_steps, "loop did not finish"
        while pending and pending[0].arrival_time <= step:
            r = pending.pop(0)
            ranked.add(r)
            last_seen[r.request_id] = step
        ranked.begin_step()
        for victim in ranked.victims(max_num_seqs):
            ranked.preempt(victim)
        while ranked.num_running < max_num_seqs and ranked.peek_waiting() is not None:
            r = ranked.pop_waiting()
            assert r is not None
            ranked.start_running(r)
        running = ranked.running()
        assert len(running) <= max_num_seqs
        scheduled = {r.request_id: 1 for r in running}
        for r in running:
            first.setdefault(r.request_id, step)
            streak[r.request_id] = max(streak.get(r.request_id, 0), step - last_seen[r.request_id] - 1)
            last_seen[r.request_id] = step
            r.num_output_tokens += 1
        ranked.end_step(scheduled)
        for r in running:
            if r.num_output_tokens >= r.max_tokens:
                ranked.finish(r)
                finish[r.request_id] = step
        step += 1
    return finish, streak, first


def test_sjf_and_fcfs_finish_orders_by_hand():
    # one slot; a (30 tokens) arrives first, then b (10) and c (20) while a runs
    def reqs():
        return [make_request("a", 0, 30, score=-30), make_request("b", 1, 10, score=-10),
                make_request("c", 2, 20, score=-20)]

    fcfs, _, _ = run_loop(RankedRequests(make_policy("fcfs")), reqs(), max_num_seqs=1)
    assert sorted(fcfs, key=fcfs.get) == ["a", "b", "c"]
    assert fcfs == {"a": 29, "b": 39, "c": 59}
    sjf, _, _ = run_loop(RankedRequests(make_policy("sjf-oracle")), reqs(), max_num_seqs=1)
    assert sjf == {"a": 29, "b": 39, "c": 59}  # non-preemptive: a keeps its slot, then b before c
    srtf, _, _ = run_loop(RankedRequests(make_policy("srtf-oracle")), reqs(), max_num_seqs=1)
    # a has 29 left at step 1 > b's 10: b preempts a, then c (20) < a's 29 remaining
    assert srtf == {"b": 10, "c": 30, "a": 59}
    ltr, _, _ = run_loop(RankedRequests(make_policy("ltr")), reqs(), max_num_seqs=1)
    assert ltr == {"b": 10, "c": 30, "a": 59}


def test_promotion_happens_at_the_threshold_and_lasts_the_quantum():
    # two slots held by short high-score requests arriving every step; one long low-score request starves
    starv = StarvationConfig(threshold=5, quantum=3, preempt=True)  # the paper's fork: promotion evicts
    ranked = RankedRequests(make_policy("ltr"), starvation=starv)
    long = make_request("long", 0, output_len=100, score=-100)
    shorts = [make_request(f"s{i}", i, output_len=2, score=0) for i in range(40)]
    _, _, first = run_loop(ranked, [long, *shorts], max_num_seqs=1)
    assert first["long"] == 5  # queued at step 0, idle steps 0..4, promoted at the start of step 5
    assert ranked.num_promotions >= 1


def test_queued_promotion_waits_for_a_free_slot_instead_of_evicting():
    # one slot: "long" is promoted at step 5 while "s0" (10 tokens) runs; preempt=False lets s0 finish first,
    # then the promoted request takes the slot ahead of the better-ranked shorts that arrived meanwhile.
    def reqs():
        return [make_request("long", 0, output_len=50, score=-100),
                *(make_request(f"s{i}", i, output_len=10, score=0) for i in range(20))]

    evicting = RankedRequests(make_policy("ltr"), StarvationConfig(threshold=5, quantum=3, preempt=True))
    _, _, first = run_loop(evicting, reqs(), max_num_seqs=1)
    assert first["long"] == 5
    queued = RankedRequests(make_policy("ltr"), StarvationConfig(threshold=5, quantum=3, preempt=False))
    finish, _, first = run_loop(queued, reqs(), max_num_seqs=1)
    assert first["long"] == 10  # s0 ran to its end (steps 0-9); nobody was evicted for the promoted request
    assert finish["s0"] == 9
    assert first["s1"] > first["long"]  # s1 (better rank, promoted one step later) queues behind it


def test_queued_promotion_still_lets_a_better_rank_evict():
    ranked = RankedRequests(make_policy("ltr"), StarvationConfig(threshold=1, quantum=2, preempt=False))
    worst = make_request("worst", 0, output_len=100, score=-100)
    ranked.add(worst)
    ranked.start_running(ranked.pop_waiting())  # type: ignore[arg-type]
    mid = make_request("mid", 0, output_len=100, score=-50)
    ranked.add(mid)
    ranked.step = 5
    assert ranked.begin_step() == [mid]  # promoted, and its rank (-50 score) beats the running one's (-100)
    assert ranked.victims(1) == [worst]


def test_no_starvation_prevention_lets_the_long_request_wait():
    ranked = RankedRequests(make_policy("ltr"), starvation=None)
    long = make_request("long", 0, output_len=5, score=-100)
    shorts = [make_request(f"s{i}", i, output_len=1, score=0) for i in range(40)]
    _, _, first = run_loop(ranked, [long, *shorts], max_num_seqs=1)
    assert first["long"] == 40
    assert ranked.num_promotions == 0


def test_threshold_zero_turns_prevention_off():
    assert RankedRequests(make_policy("ltr"), StarvationConfig(threshold=0)).starvation is None


def test_victims_fill_free_slots_first_then_evict_worst():
    ranked = RankedRequests(make_policy("ltr"))
    running = [make_request(f"r{i}", 0, score=-float(i)) for i in range(3)]  # r0 best, r2 worst
    for r in running:
        ranked.add(r)
        ranked.start_running(ranked.pop_waiting())  # type: ignore[arg-type]
    for i, score in enumerate([0.5, -0.5, -5.0]):
        ranked.add(make_request(f"w{i}", 1, score=score))
    # 4 slots: w0 (0.5) takes the free one; w1 (-0.5) evicts only the worst running, r2 (-2); w2 (-5) beats no one.
    assert [v.request_id for v in ranked.victims(4)] == ["r2"]
    # 3 slots, none free: w0 evicts r2 and w1 (-0.5) then evicts r1 (-1); r0 (0) beats w2.
    assert [v.request_id for v in ranked.victims(3)] == ["r2", "r1"]
    assert ranked.num_waiting == 3  # victims() only looks; nothing moved
    assert [v.request_id for v in ranked.victims(3)] == ["r2", "r1"]


def test_hysteresis_margin_stops_near_equal_swaps():
    ranked = RankedRequests(make_policy("ltr"), displace_margin=1.0)
    ranked.add(make_request("r", 0, score=0.0))
    ranked.start_running(ranked.pop_waiting())  # type: ignore[arg-type]
    ranked.add(make_request("w", 1, score=0.5))
    assert ranked.victims(1) == []
    ranked.add(make_request("w2", 2, score=1.5))
    assert [v.request_id for v in ranked.victims(1)] == ["r"]


def test_non_preemptive_policy_never_evicts():
    ranked = RankedRequests(make_policy("fcfs"))
    ranked.add(make_request("r", 5.0))
    ranked.start_running(ranked.pop_waiting())  # type: ignore[arg-type]
    ranked.add(make_request("w", 0.0))
    assert ranked.victims(1) == []


def test_adding_a_request_twice_is_an_error():
    ranked = RankedRequests(make_policy("fcfs"))
    r = make_request("x")
    ranked.add(r)
    try:
        ranked.add(r)
    except ValueError as exc:
        assert "already added" in str(exc)
    else:
        raise AssertionError("expected ValueError")


ops = st.lists(
    st.tuples(st.sampled_from(["add", "pop", "preempt", "finish", "step"]), st.floats(-5, 5), st.integers(0, 50)),
    min_size=1, max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops=ops, threshold=st.integers(1, 6), policy=st.sampled_from(["ltr", "fcfs", "srtf-oracle", "mlfq"]))
def test_order_matches_a_naive_sort_after_any_operations(ops, threshold, policy):
    ranked = RankedRequests(make_policy(policy), StarvationConfig(threshold=threshold, quantum=2))
    n = 0
    for op, score, length in ops:
        if op == "add":
            ranked.add(make_request(f"q{n}", float(n), output_len=length + 1, score=score))
            n += 1
        elif op == "pop" and ranked.peek_waiting() is not None:
            r = ranked.pop_waiting()
            ranked.start_running(r)  # type: ignore[arg-type]
        elif op == "preempt" and ranked.num_running:
            ranked.preempt(ranked.running()[-1])
        elif op == "finish" and ranked.num_running:
            ranked.finish(ranked.running()[0])
        elif op == "step":
            ranked.begin_step()
            running = ranked.running()
            for r in running:
                r.num_output_tokens += 1
            ranked.end_step({r.request_id: 1 for r in running}, step_time_s=0.01)
        waiting = list(ranked.waiting_in_order())
        keys = [ranked.key(r) for r in waiting]
        assert keys == sorted(keys)
        assert len(waiting) == ranked.num_waiting
        run_keys = [ranked.key(r) for r in ranked.running()]
        assert run_keys == sorted(run_keys)
        assert not {r.request_id for r in waiting} & {r.request_id for r in ranked.running()}
        best = ranked.peek_waiting()
        assert best is (waiting[0] if waiting else None)


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 30), min_size=2, max_size=40),
    scores=st.lists(st.floats(-10, 10), min_size=40, max_size=40),
    slots=st.integers(1, 4),
    threshold=st.integers(2, 20),
    quantum=st.integers(1, 5),
)
def test_starvation_bound_with_prevention(lengths, scores, slots, threshold, quantum):
    """No request sits unscheduled much longer than the threshold: promoted requests beat every unpromoted one,
    so a promoted request waits at most for the promotions ahead of it, each holding a slot for <= quantum steps."""
    reqs = [make_request(f"q{i}", float(i % 5), output_len=n, score=scores[i]) for i, n in enumerate(lengths)]
    ranked = RankedRequests(make_policy("ltr"), StarvationConfig(threshold=threshold, quantum=quantum, preempt=True))
    finish, streak, _ = run_loop(ranked, reqs, max_num_seqs=slots)
    assert set(finish) == {r.request_id for r in reqs}  # every request finishes exactly once
    bound = threshold + quantum * (len(reqs) // slots + 1)
    assert max(streak.values()) <= bound
    # Without evictions for promotions, a promoted request also waits for running ones to finish (<= 30 tokens).
    queued = RankedRequests(make_policy("ltr"), StarvationConfig(threshold=threshold, quantum=quantum, preempt=False))
    reqs = [make_request(f"q{i}", float(i % 5), output_len=n, score=scores[i]) for i, n in enumerate(lengths)]
    finish, streak, _ = run_loop(queued, reqs, max_num_seqs=slots)
    assert set(finish) == {r.request_id for r in reqs}
    assert max(streak.values()) <= threshold + (max(quantum, max(lengths))) * (len(reqs) // slots + 1)
