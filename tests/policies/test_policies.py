"""Each policy's rank on cases checkable by hand."""

from __future__ import annotations

import pytest

from ltrsched.policies import POLICIES, RankedRequests, SortKey, make_policy, pick_victim, should_displace
from ltrsched.policies.approx_sjf import shuffled_lengths
from ltrsched.registry import Registry
from tests.conftest import make_request
from tests.conftest import waiting_order as order


def three():
    # arrival order a, b, c; true lengths 30, 10, 20; the ranker believes b < a < c
    return [
        make_request("a", 0.0, output_len=30, score=-3.0),
        make_request("b", 1.0, output_len=10, score=-1.0),
        make_request("c", 2.0, output_len=20, score=-4.0),
    ]


def test_registry_names_every_policy():
    assert POLICIES.names() == [
        "approx-sjf", "classification", "fcfs", "ltr", "ltr-boost", "ltr-deadline", "ltr-first", "ltr-tie", "mlfq",
        "po", "sjf-oracle", "srtf-oracle",
    ]


def test_registry_refuses_duplicates_and_names_unknowns():
    reg: Registry[int] = Registry("thing")
    reg.register("x")(1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("x")(2)
    with pytest.raises(KeyError, match="unknown thing 'y'; known: x"):
        reg.get("y")


def test_make_policy_rejects_unknown_parameter():
    with pytest.raises(ValueError, match="bad parameters for policy 'mlfq'"):
        make_policy("mlfq", quantum=3)


def test_fcfs_orders_by_arrival():
    assert order("fcfs", three()) == ["a", "b", "c"]


def test_oracles_order_by_true_length():
    assert order("sjf-oracle", three()) == ["b", "c", "a"]
    assert order("srtf-oracle", three()) == ["b", "c", "a"]


def test_srtf_uses_remaining_length():
    a, b, _ = three()
    a.num_output_tokens = 25  # 5 left, fewer than b's 10
    assert order("srtf-oracle", [a, b]) == ["a", "b"]


def test_oracle_without_true_length_is_an_error():
    req = make_request("x")
    req.true_output_len = None
    with pytest.raises(ValueError, match="no true_output_len"):
        make_policy("srtf-oracle").rank(req)


def test_ltr_orders_by_score_descending():
    assert order("ltr", three()) == ["b", "a", "c"]


def test_classification_is_fcfs_within_a_class():
    reqs = [make_request("a", 0.0, score=2.7), make_request("b", 1.0, score=2.1), make_request("c", 2.0, score=3.0)]
    assert order("classification", reqs) == ["c", "a", "b"]


def test_user_priority_outranks_the_policy():
    a, b, c = three()
    c.priority = -1
    assert order("ltr", [a, b, c]) == ["c", "b", "a"]


def test_po_is_fcfs_until_perception_tokens_then_by_stated_length():
    a, b, c = three()
    assert order("po", [a, b, c]) == ["a", "b", "c"]
    for r in (a, b, c):
        r.num_output_tokens = 15
    assert order("po", [a, b, c]) == ["b", "a", "c"]
    a.num_output_tokens = 14  # still perceiving: first
    assert order("po", [a, b, c])[0] == "a"


def test_mlfq_demotes_on_attained_time():
    mlfq = make_policy("mlfq", base_quantum_s=0.1, growth=2.0)
    req = make_request("a")
    mlfq.on_scheduled(req, 1, 0.05)
    assert req.level == 0
    mlfq.on_scheduled(req, 1, 0.1)  # 0.15 s > 0.1 s quantum of level 0
    assert req.level == 1
    mlfq.on_scheduled(req, 1, 0.1)  # 0.25 s > 0.2 s quantum of level 1
    assert req.level == 2


def test_mlfq_skip_join_starts_long_prompts_lower():
    mlfq = make_policy("mlfq", base_quantum_s=0.1, growth=2.0, skip_join=True, prefill_s_per_token=0.001)
    assert mlfq.rank(make_request("short", prompt_len=50)) == 0.0  # 0.05 s fits level 0
    assert mlfq.rank(make_request("long", prompt_len=350)) == 2.0  # 0.35 s > 0.1, > 0.2; fits 0.4


def test_approx_sjf_with_nothing_shuffled_is_sjf():
    reqs = three()
    policy = make_policy("approx-sjf", fraction=0.0)
    policy.prepare(reqs)
    ranked = RankedRequests(policy)
    for r in reqs:
        ranked.add(r)
    assert [r.request_id for r in ranked.waiting_in_order()] == ["b", "c", "a"]


def test_approx_sjf_without_prepare_says_so():
    with pytest.raises(RuntimeError, match="prepare"):
        make_policy("approx-sjf").rank(make_request("a"))


# Which lengths each region shuffles when 20 of the lengths 0..99 are chosen (``full``: any 20).
REGION_LENGTHS = {"head": set(range(20)), "tail": set(range(80, 100)), "middle": set(range(40, 60)),
                  "hat": set(range(10)) | set(range(90, 100))}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("region", ["full", "head", "tail", "middle", "hat"])
def test_shuffled_lengths_permutes_only_the_chosen_region(region, seed):
    # The lengths 0..99 in a scrambled order, so "the 20 shortest" are not the first 20 positions.
    lengths = [(37 * i) % 100 for i in range(100)]
    out = shuffled_lengths(lengths, 0.2, region, seed=seed)
    moved = [i for i in range(100) if out[i] != lengths[i]]
    # The moved positions swapped their values among themselves; everything else is untouched.
    assert sorted(out[i] for i in moved) == sorted(lengths[i] for i in moved)
    # A random order of 20 values leaves about one in place: a shuffle that does nothing fails here.
    assert 10 <= len(moved) <= 20
    if region != "full":
        assert {lengths[i] for i in moved} <= REGION_LENGTHS[region]
    assert shuffled_lengths(lengths, 0.2, region, seed=seed) == out  # seeded


def test_shuffled_lengths_edge_fractions():
    lengths = [(37 * i) % 100 for i in range(100)]
    assert shuffled_lengths(lengths, 0.0, "full", seed=3) == lengths
    whole = shuffled_lengths(lengths, 1.0, "full", seed=3)
    assert sorted(whole) == list(range(100)) and sum(a != b for a, b in zip(whole, lengths, strict=True)) >= 90


def test_shuffled_lengths_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown shuffle region"):
        shuffled_lengths([1, 2], 0.5, "edges")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        shuffled_lengths([1, 2], 1.5, "full")


def key(rank: float, priority: int = 0, promoted_at: float | None = None, seq: int = 1) -> SortKey:
    return SortKey(priority, 1 if promoted_at is None else 0, promoted_at or 0.0, rank, 9.0, seq)


def test_should_displace_needs_more_than_the_margin():
    running = SortKey(priority=0, unpromoted=1, promoted_at=0.0, rank=5.0, arrival_time=0.0, seq=0)
    assert should_displace(key(4.0), running)
    assert not should_displace(key(5.0), running)  # equal rank: no thrash
    assert not should_displace(key(4.0), running, margin=1.0)
    assert should_displace(key(3.9), running, margin=1.0)
    assert should_displace(key(99.0, promoted_at=3.0), running, margin=1.0)  # promotion beats any rank
    assert not should_displace(key(0.0, priority=1, promoted_at=3.0), running)  # lower priority never displaces


def test_between_promoted_requests_the_older_promotion_displaces():
    running = key(1.0, promoted_at=7.0, seq=0)
    assert should_displace(key(50.0, promoted_at=3.0), running)  # promoted earlier: wins whatever its rank
    assert not should_displace(key(0.0, promoted_at=7.0), running)  # same promotion step: no eviction
    assert not should_displace(key(0.0, promoted_at=9.0), running)


def test_sort_key_orders_promoted_first_then_by_promotion_step_then_rank():
    keys = [key(1.0), key(9.0, promoted_at=5.0), key(2.0, promoted_at=2.0), key(0.5, priority=-1)]
    assert [k.rank for k in sorted(keys)] == [0.5, 2.0, 9.0, 1.0]
    assert key(9.0, promoted_at=5.0).as_unpromoted() == key(9.0)


@pytest.mark.parametrize(("policy", "worst_first"), [
    ("ltr", ["c", "a", "b"]),  # scores -4 < -3 < -1 (higher = shorter)
    ("srtf-oracle", ["a", "c", "b"]),  # remaining tokens 30 > 20 > 10
    ("fcfs", ["c", "b", "a"]),  # latest arrival first
])
def test_pick_victim_is_the_lowest_ranked(policy: str, worst_first: list[str]) -> None:
    ranked = RankedRequests(make_policy(policy))
    for r in three():  # admitted in arrival order a, b, c; the running list is kept in rank order
        ranked.add(r)
        ranked.start_running(ranked.pop_waiting())  # type: ignore[arg-type]
    victims = []
    while (victim := pick_victim(ranked.running())) is not None:
        victims.append(victim.request_id)
        ranked.preempt(victim)
    assert victims == worst_first
    assert pick_victim([]) is None
