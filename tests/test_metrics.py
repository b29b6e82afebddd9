"""The paper's serving metrics on three hand-made requests; every number below is worked out in its comment."""

from __future__ import annotations

import math

import pytest

from ltrsched.metrics import RequestRecord, finished_within, summarize, time_to_k_finished


def records() -> list[RequestRecord]:
    return [
        # latency 10 s over 5 tokens = 2 s/token; TTFT 2; TPOT (10 - 2) / 4 = 2; max wait max(2, 3) = 3
        RequestRecord("a", arrival_time=0.0, first_token_time=2.0, finish_time=10.0, num_prompt_tokens=5,
                      num_output_tokens=5, max_itl_s=3.0),
        # latency 4 s, one token: 4 s/token; TTFT 1; no second token, TPOT 0; max wait 1
        RequestRecord("b", arrival_time=1.0, first_token_time=2.0, finish_time=5.0, num_prompt_tokens=3,
                      num_output_tokens=1),
        # latency 8 s over 8 tokens = 1 s/token; TTFT 1; TPOT 7 / 7 = 1; max wait max(1, 0.5) = 1
        RequestRecord("c", arrival_time=4.0, first_token_time=5.0, finish_time=12.0, num_prompt_tokens=9,
                      num_output_tokens=8, max_itl_s=0.5, num_preemptions=2),
    ]


def test_per_request_metrics() -> None:
    a, b, c = records()
    assert [r.per_token_latency_s for r in (a, b, c)] == [2.0, 4.0, 1.0]
    assert [r.ttft_s for r in (a, b, c)] == [2.0, 1.0, 1.0]
    assert [r.tpot_s for r in (a, b, c)] == [2.0, 0.0, 1.0]
    assert [r.max_waiting_time_s for r in (a, b, c)] == [3.0, 1.0, 1.0]


def test_summarize_means_percentiles_and_throughput() -> None:
    s = summarize(records())
    assert s["num_finished"] == 3
    # per-token latencies sorted 1, 2, 4: linear-interpolated p90 at rank 0.9 * 2 = 1.8 is 2 + 0.8 * (4 - 2)
    assert s["mean_per_token_latency"] == pytest.approx(7 / 3)
    assert s["median_per_token_latency"] == 2.0
    assert s["p90_per_token_latency"] == pytest.approx(3.6)
    assert s["p99_per_token_latency"] == pytest.approx(3.96)
    assert s["mean_ttft"] == pytest.approx(4 / 3) and s["mean_tpot"] == pytest.approx(1.0)
    assert s["mean_max_waiting_time"] == pytest.approx(5 / 3) and s["max_max_waiting_time"] == 3.0
    # first arrival 0 to last finish 12: 14 tokens and 3 requests in 12 s
    assert s["makespan_s"] == 12.0
    assert s["throughput_tokens_per_s"] == pytest.approx(14 / 12)
    assert s["throughput_requests_per_s"] == pytest.approx(3 / 12)
    assert s["num_preemptions"] == 2
    assert summarize(records(), start_time=-3.0)["makespan_s"] == 15.0  # measured from a given start


def test_summarize_of_nothing_is_nan_not_an_error() -> None:
    s = summarize([])
    assert s["num_finished"] == 0
    assert math.isnan(s["mean_per_token_latency"]) and math.isnan(s["max_max_waiting_time"])
    assert "makespan_s" not in s


def test_time_to_k_and_finished_within() -> None:
    # finish times 5, 10, 12
    assert time_to_k_finished(records(), 1) == 5.0
    assert time_to_k_finished(records(), 2, start_time=1.0) == 9.0
    assert time_to_k_finished(records(), 4) == math.inf  # only 3 finished
    assert finished_within(records(), 10.0) == 2  # the limit is inclusive
    assert finished_within(records(), 4.9) == 0
    assert finished_within(records(), 10.0, start_time=2.0) == 3
