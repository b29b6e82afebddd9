"""The risk-aware key (ltr-tie): its length formula against an independent computation, and orders by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ltrsched.errors import UserError
from ltrsched.policies import PolicyConfig
from ltrsched.policies.tie import Z90, lognormal_from_quantiles, tail_inflated_length
from tests.conftest import make_request
from tests.conftest import waiting_order as order


def test_tail_inflated_length_matches_a_sampled_truncated_lognormal():
    from scipy.stats import lognorm

    mu, sigma = lognormal_from_quantiles(23.0, 103.0, 305.0)
    x = lognorm(sigma, scale=math.exp(mu)).rvs(size=1_000_000, random_state=0)
    x = x[x <= 2048.0]
    k = math.exp(mu + Z90 * sigma)
    assert tail_inflated_length(23.0, 103.0, 305.0, beta=0.0) == pytest.approx(x.mean(), rel=5e-3)
    expected = x.mean() + 0.5 * (x[x > k] - k).mean()
    assert tail_inflated_length(23.0, 103.0, 305.0, beta=0.5) == pytest.approx(expected, rel=5e-3)


def test_a_symmetric_spread_gives_back_its_quantiles():
    # p10 = m/2, p90 = 2m is a log-normal with median m and sigma = ln 2 / z90; no cut in reach
    mu, sigma = lognormal_from_quantiles(50.0, 100.0, 200.0)
    assert (math.exp(mu), sigma) == pytest.approx((100.0, math.log(2.0) / Z90))
    assert tail_inflated_length(50.0, 100.0, 200.0, 0.0, max_len=1e9) == pytest.approx(
        100.0 * math.exp(sigma**2 / 2), rel=1e-9)
    assert tail_inflated_length(5.0, 5.0, 5.0, 3.0) == pytest.approx(5.0, rel=1e-4)  # certain: no excess


def three():
    # a narrow around 100, b a lower median but a wide spread, c short and fairly sure
    reqs = [make_request("a", 0.0), make_request("b", 1.0), make_request("c", 3.0)]
    for r, q in zip(reqs, [(50.0, 100.0, 200.0), (10.0, 90.0, 800.0), (5.0, 20.0, 80.0)], strict=True):
        r.length_quantiles = q
    return reqs


def test_orders_by_hand():
    # means (log-normal, cut at 2048): a 115.7, b 220 (sigma 1.71: the spread outweighs the lower median),
    # c 35.9; by the median alone it would be c, b, a
    assert order("ltr-tie", three(), beta=0.0) == ["c", "a", "b"]
    assert [round(tail_inflated_length(*r.length_quantiles, 0.0)) for r in three()] == [116, 220, 36]
    # aging 60 tokens/s: keys a 115.7 + 0, b 220 + 60 = 280, c 35.9 + 180 = 215.9: a first, c before b
    assert order("ltr-tie", three(), beta=0.0, age_tokens_per_s=60.0) == ["a", "c", "b"]
    # aging 1000 tokens/s is arrival order
    assert order("ltr-tie", three(), beta=2.0, age_tokens_per_s=1000.0) == ["a", "b", "c"]


def test_the_excess_weight_pushes_wide_requests_back():
    lo_wide = tail_inflated_length(3.0, 40.0, 250.0, 0.0), tail_inflated_length(3.0, 40.0, 250.0, 1.0)
    narrow = tail_inflated_length(150.0, 200.0, 260.0, 0.0), tail_inflated_length(150.0, 200.0, 260.0, 1.0)
    assert lo_wide[0] < narrow[0]  # by the mean the wide one goes first
    assert lo_wide[1] > narrow[1]  # a full excess weight reverses them


def test_a_request_without_quantiles_is_refused_by_name():
    with pytest.raises(ValueError, match=r"'q'.*length_quantiles"):
        order("ltr-tie", [make_request("q", 0.0)])


@pytest.mark.parametrize(("spec", "name"), [
    ("ltr-tie:beta=-1", "beta"), ("ltr-tie:beta=nan", "beta"),
    ("ltr-tie:age_tokens_per_s=-0.1", "age_tokens_per_s"), ("ltr-tie:max_len=0", "max_len"),
    ("ltr-tie:quantum=0:starvation_threshold=5", "quantum"), ("ltr-tie:risk=1", "risk"),
])
def test_bad_parameters_name_themselves(spec: str, name: str):
    with pytest.raises(UserError, match=name):
        PolicyConfig.parse(spec)
    cfg = PolicyConfig.parse("ltr-tie")  # the plugin's JSON block goes through the same checks
    mapping = {**cfg.to_mapping(), "params": {name: -1}} if name in ("beta", "age_tokens_per_s") else None
    if mapping is not None:
        with pytest.raises(UserError, match=name):
            PolicyConfig.from_mapping(mapping)


def test_the_simulator_gives_quantiles_from_an_independent_calibration():
    from ltrsched.sim.scores import make_quantiles, make_scores
    from ltrsched.sim.workload import load_items

    items = load_items("sharegpt", 600, None, 0)
    scores = make_scores("tau:0.5", items, 0, progress=False)
    q = make_quantiles("tau:0.5", items, scores, 0)
    assert q.shape == (600, 3) and np.all(np.diff(q, axis=1) >= 0)
    lengths = np.array([it.output_len for it in items])
    below = (lengths[:, None] <= q).mean(axis=0)  # calibrated: about 10 / 50 / 90% below
    assert below == pytest.approx([0.1, 0.5, 0.9], abs=0.07)
    assert np.array_equal(make_quantiles("oracle", items, scores, 0)[:, 1], lengths)
