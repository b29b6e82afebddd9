"""Bench client logic on real data: ShareGPT workloads, arrival patterns, SSE parsing, report tables and sizing."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ltrsched.bench import report
from ltrsched.bench.client import chat_payload, chunk_has_content, parse_sse_line
from ltrsched.bench.demo import size_burst
from ltrsched.bench.runs import POLICY_RUNS, RequestTracker, RunResult, policy_run
from ltrsched.bench.workload import BenchRequest, burst, load_prompts, poisson, total_tokens
from ltrsched.errors import UserError
from ltrsched.metrics import RequestRecord
from ltrsched.report import add_ratios
from ltrsched.vllm.xargs import TRUE_LEN_KEY


@pytest.fixture(scope="module")
def sharegpt_requests() -> list[BenchRequest]:
    return load_prompts(40, max_output_len=512, max_prompt_len=1024)


def test_sharegpt_workload_is_capped_deterministic_and_chat_shaped(sharegpt_requests: list[BenchRequest]) -> None:
    assert len(sharegpt_requests) == 40
    assert all(1 <= r.output_len <= 512 for r in sharegpt_requests)
    assert any(r.output_len == 512 for r in load_prompts(200))  # long answers exist, and are capped
    assert len({r.request_id for r in sharegpt_requests}) == 40
    assert all(r.messages[-1]["role"] == "user" and r.messages[-1]["content"] for r in sharegpt_requests)
    again = load_prompts(40, max_output_len=512, max_prompt_len=1024)
    assert [r.request_id for r in again] == [r.request_id for r in sharegpt_requests]


def test_poisson_arrivals_have_the_asked_rate_and_burst_is_at_zero(sharegpt_requests: list[BenchRequest]) -> None:
    many = sharegpt_requests * 50  # 2000 arrivals
    timed = poisson(many, rate=2.0, seed=1)
    times = np.array([r.arrival_s for r in timed])
    assert times[0] == 0.0 and np.all(np.diff(times) >= 0)
    assert len(times) / times[-1] == pytest.approx(2.0, rel=0.08)
    gamma = np.diff([r.arrival_s for r in poisson(many, rate=2.0, seed=1, cv=3.0)])
    assert gamma.std() / gamma.mean() > 2.0  # burstier at the same rate
    assert all(r.arrival_s == 0.0 for r in burst(timed))
    with pytest.raises(UserError, match="rate"):
        poisson(many, rate=0.0)


def test_sse_lines_and_payload() -> None:
    assert parse_sse_line(b"data: [DONE]\n") is None
    assert parse_sse_line(b": keep-alive\n") is None
    obj = parse_sse_line(b'data: {"choices": [{"delta": {"content": "hi"}}]}\n')
    assert obj is not None and chunk_has_content(obj)
    assert not chunk_has_content({"choices": [{"delta": {"role": "assistant"}}]})
    req = BenchRequest("a", [{"role": "user", "content": "x"}], 17)
    body = chat_payload("m", req, POLICY_RUNS["srtf-oracle"])
    assert body["max_tokens"] == 17 and body["ignore_eos"] is True
    assert body["vllm_xargs"] == {TRUE_LEN_KEY: 17}
    assert "vllm_xargs" not in chat_payload("m", req, POLICY_RUNS["ltr"])
    with pytest.raises(UserError, match=r"neither a named run .* nor a policy spec"):
        policy_run("sjf-magic")
    spec_run = policy_run("ltr:starvation_threshold=0:displace_margin=2")  # any policy spec runs with the plugin
    assert spec_run.core is not None and spec_run.plugin_block()["displace_margin"] == 2.0
    assert POLICY_RUNS["vllm"].core is None and not POLICY_RUNS["vllm"].needs_true_length


def test_tracker_turns_token_times_into_records() -> None:
    reqs = [BenchRequest("a", [], 3, 0.0), BenchRequest("b", [], 2, 1.0)]
    tr = RequestTracker(reqs, progress=False)
    for t, rid in ((0.5, "a"), (1.5, "a"), (1.7, "b"), (4.5, "a"), (2.0, "b")):
        tr.on_tokens(rid, t, 1, 10)
    tr.finish("a")
    assert tr.num_unfinished == 1
    tr.finish("b")
    recs = {r.request_id: r for r in tr.records()}
    assert recs["a"].first_token_time == 0.5 and recs["a"].finish_time == 4.5 and recs["a"].max_itl_s == 3.0
    assert recs["a"].per_token_latency_s == pytest.approx(4.5 / 3)
    assert recs["b"].ttft_s == pytest.approx(0.7)


def _result(name: str, latencies: list[float]) -> RunResult:
    recs = [RequestRecord(f"{name}{i}", 0.0, lat / 2, lat, 5, 10) for i, lat in enumerate(latencies)]
    return RunResult(name, recs, wall_s=max(latencies), plugin={"scoring_s": 0.1})


def test_report_ratios_table_csv_and_plot(tmp_path: Path) -> None:
    results = [_result("fcfs", [10.0, 20.0, 30.0]), _result("ltr", [2.0, 4.0, 30.0])]
    rows = [report.summarize_run(r, k=2, time_limit_s=5.0) for r in results]
    assert add_ratios(rows) == "fcfs"
    assert rows[1]["mean_per_token_latency_vs_fcfs"] == pytest.approx(2.0 / 1.2)  # (20/10) / (12/10)
    assert rows[1]["makespan_s_vs_fcfs"] == pytest.approx(1.0)  # FCFS's / this one's, like every ratio
    assert rows[1]["time_to_k_finished_s"] == 4.0 and rows[1]["finished_within_limit"] == 2
    assert rows[0]["scoring_share"] == pytest.approx(0.1 / 30)
    table = report.format_table(rows, "t")
    assert "1.67x" in table and "fcfs" in table and math.isfinite(rows[0]["p99_per_token_latency"])
    assert "learning %" not in table  # no run learned online
    online = _result("ltr-online", [2.0, 4.0, 30.0])
    online.plugin["online_learn_s"] = 0.3
    rows.append(report.summarize_run(online, k=2, time_limit_s=5.0))
    assert rows[2]["learning_share"] == pytest.approx(0.3 / 30)
    last = report.format_table(rows, "t").splitlines()[-1]
    assert "learning %" in report.format_table(rows, "t") and last.rstrip(" |").endswith("1.00")
    report.write_records_csv(tmp_path / "r.csv", results, "burst")
    with open(tmp_path / "r.csv") as f:
        assert len(list(csv.DictReader(f))) == 6
    report.plot_cdf(tmp_path / "cdf.png", results, "t")
    report.plot_vs_rate(tmp_path / "rate.png", {0.5: rows, 1.0: rows})
    assert (tmp_path / "cdf.png").stat().st_size > 1000 and (tmp_path / "rate.png").stat().st_size > 1000


def test_demo_sizes_the_burst_to_the_measured_speed(sharegpt_requests: list[BenchRequest]) -> None:
    fast = size_burst(sharegpt_requests, tokens_per_s=100.0, run_s=60.0, lo=4, hi=40)
    slow = size_burst(sharegpt_requests, tokens_per_s=30.0, run_s=60.0, lo=4, hi=40)
    assert total_tokens(fast) <= 6000 and len(fast) > len(slow) >= 4
    assert len(size_burst(sharegpt_requests, 1.0, 1.0, lo=4, hi=40)) == 4  # never below the floor


def test_repeats_are_summed_up_by_their_medians_and_the_ratio_of_their_means() -> None:
    def repeat(fcfs: list[float], ltr: list[float], first: str) -> list[dict[str, Any]]:
        rows = [report.summarize_run(_result("fcfs", fcfs)), report.summarize_run(_result("ltr", ltr))]
        add_ratios(rows)
        return rows if first == "fcfs" else rows[::-1]

    repeats = [repeat([10.0, 20.0, 30.0], [2.0, 4.0, 30.0], "fcfs"),  # ltr 1.67x
               repeat([10.0, 20.0, 30.0], [10.0, 20.0, 30.0], "ltr"),  # a tie (a slow engine, say)
               repeat([20.0, 40.0, 60.0], [4.0, 8.0, 60.0], "fcfs")]  # 1.67x again, everything twice as slow
    times = [[1.0, 1.05], [0.9, 1.0], [1.0, None]]  # row i against its repeat's fcfs engine; None: no step log
    rows = {r["policy"]: r for r in report.across_repeats(repeats, times)}
    ltr = rows["ltr"]
    assert ltr["mean_per_token_latency_vs_fcfs_by_repeat"] == pytest.approx([2.0 / 1.2, 1.0, 2.0 / 1.2])
    assert ltr["mean_per_token_latency_vs_fcfs"] == pytest.approx(2.0 / 1.2)  # the median repeat
    fcfs_means, ltr_means = [2.0, 2.0, 4.0], [1.2, 2.0, 2.4]  # mean s/token of each repeat
    assert ltr["mean_per_token_latency_by_repeat"] == pytest.approx(ltr_means)
    assert ltr["mean_per_token_latency_vs_fcfs_of_means"] == pytest.approx(sum(fcfs_means) / sum(ltr_means))
    assert ltr["mean_per_token_latency"] == pytest.approx(2.0) and ltr["repeats"] == 3
    assert ltr["step_time_vs_baseline_by_repeat"] == [1.05, 0.9, None]
    assert rows["fcfs"]["mean_per_token_latency_vs_fcfs_by_repeat"] == [1.0, 1.0, 1.0]
    table = report.format_repeats(list(rows.values()), "poisson-0.3: 3 repeats")
    assert "1.67x / 1.00x / 1.67x" in table and "1.05x / 0.90x / -" in table
