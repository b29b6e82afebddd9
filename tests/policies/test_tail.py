"""The tail guards (ltr-boost, ltr-deadline) and first tokens early (ltr-first), on cases checkable by hand."""

from __future__ import annotations

import math

import pytest

from ltrsched.errors import UserError
from ltrsched.policies import PolicyConfig
from ltrsched.sim.engine import EngineConfig
from tests.conftest import make_request
from tests.conftest import waiting_order as order
from tests.sim.conftest import run_checked


def four():
    # (arrival s, score): a (0, -1), b (1, 1), c (3, 2), d (6, 3); by score alone: d, c, b, a
    return [make_request("a", 0.0, score=-1.0), make_request("b", 1.0, score=1.0),
            make_request("c", 3.0, score=2.0), make_request("d", 6.0, score=3.0)]


def test_boost_bends_arrival_order_toward_the_score():
    # boost_s 2: ranks a 0+2 = 2, b 1-2 = -1, c 3-4 = -1 (tie: earlier arrival first), d 6-6 = 0
    assert order("ltr-boost", four(), boost_s=2.0) == ["b", "c", "d", "a"]
    assert order("ltr-boost", four(), boost_s=0.0) == ["a", "b", "c", "d"]  # FCFS
    assert order("ltr-boost", four(), boost_s=1000.0) == ["d", "c", "b", "a"]  # LTR


def test_deadline_is_arrival_plus_slack_times_predicted_length():
    # slack 1 s, spread ln 2, so the predicted length factor is 2^-score:
    # a 0 + 2^1 = 2, b 1 + 2^-1 = 1.5, c 3 + 2^-2 = 3.25, d 6 + 2^-3 = 6.125
    assert order("ltr-deadline", four(), slack_s=1.0, spread=math.log(2)) == ["b", "a", "c", "d"]
    # slack 8 s: a 16, b 5, c 5, d 7 (b and c tie at 5: arrival decides)
    assert order("ltr-deadline", four(), slack_s=8.0, spread=math.log(2)) == ["b", "c", "d", "a"]
    assert order("ltr-deadline", four(), slack_s=0.0) == ["a", "b", "c", "d"]  # FCFS


def test_first_tokens_go_first_in_arrival_order_then_ltr():
    reqs = four()
    reqs[1].num_output_tokens = 2  # b is past its first phase: ranked by score (-1)
    reqs[2].num_output_tokens = 5  # c too (-2)
    reqs[3].num_output_tokens = 1  # d is still in it, as a: these two go first, by arrival
    assert order("ltr-first", reqs, first_tokens=2) == ["a", "d", "c", "b"]
    assert order("ltr-first", four(), first_tokens=0) == ["d", "c", "b", "a"]  # plain ltr


def test_a_new_arrival_evicts_for_its_first_tokens_then_yields():
    # One slot. a (the best score, 10 tokens) runs; b (the worst, 5 tokens) arrives at t=2, evicts a for its
    # prefill and 2 tokens, then a (score 5 beats -5) takes the slot back and finishes first.
    reqs = [make_request("a", 0.0, output_len=10, score=5.0), make_request("b", 2.0, output_len=5, score=-5.0)]
    result, _ = run_checked(reqs, "ltr-first", EngineConfig(max_num_seqs=1, num_gpu_blocks=64), first_tokens=2)
    rec = {r.request_id: r for r in result.records}
    assert rec["b"].first_token_time < rec["a"].finish_time < rec["b"].finish_time
    assert rec["a"].num_preemptions == 1 and rec["b"].num_preemptions == 1
    plain, _ = run_checked(make_requests_again(), "ltr", EngineConfig(max_num_seqs=1, num_gpu_blocks=64))
    assert {r.request_id: r.num_preemptions for r in plain.records} == {"a": 0, "b": 0}


def make_requests_again():
    return [make_request("a", 0.0, output_len=10, score=5.0), make_request("b", 2.0, output_len=5, score=-5.0)]


@pytest.mark.parametrize(("spec", "name"), [
    ("ltr-boost:boost_s=-1", "boost_s"),
    ("ltr-boost:boost_s=inf", "boost_s"),
    ("ltr-deadline:slack_s=-0.5", "slack_s"),
    ("ltr-deadline:spread=-1", "spread"),
    ("ltr-first:first_tokens=-1", "first_tokens"),
    ("ltr-boost:gamma=1", "gamma"),
    ("ltr-first:quantum=0", "quantum"),
    ("ltr-boost:boost_s=abc", "boost_s"),
])
def test_bad_parameters_name_themselves(spec: str, name: str):
    with pytest.raises(UserError, match=name):
        PolicyConfig.parse(spec)


def test_bad_parameters_fail_in_the_plugin_config_too():
    with pytest.raises(UserError, match="boost_s"):
        PolicyConfig.from_mapping({"policy": "ltr-boost", "params": {"boost_s": -2}})
    with pytest.raises(UserError, match="first_tokens"):
        PolicyConfig.from_mapping({"policy": "ltr-first", "params": {"first_tokens": -1}})
    with pytest.raises(UserError, match="quantum"):
        PolicyConfig.from_mapping({"policy": "ltr", "quantum": 0})


def test_defaults_and_declarations():
    assert PolicyConfig.parse("ltr-boost").starvation_threshold == 0  # the key is its own tail guard
    assert PolicyConfig.parse("ltr-deadline").starvation_threshold == 0
    assert PolicyConfig.parse("ltr-first").starvation_threshold == PolicyConfig.parse("ltr").starvation_threshold == 400
    for name in ("ltr-boost", "ltr-deadline", "ltr-first"):
        assert PolicyConfig.parse(name).policy_class.reads_score
    assert not PolicyConfig.parse("ltr-boost").policy_class.dynamic_rank
    assert PolicyConfig.parse("ltr-first").policy_class.dynamic_rank
    assert PolicyConfig.parse("ltr-first:quantum=0:starvation_threshold=0").quantum == 0  # off is fine
