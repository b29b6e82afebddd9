"""vLLM's own bench client against plain vLLM and the plugin: its per-request results become our table's rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ltrsched.bench.vllm_client import (
    RequestTimes,
    VllmClientConfig,
    add_ratios,
    agreement,
    bench_vllm_client,
    summarize_times,
    times_from_vllm,
    write_custom_dataset,
)
from ltrsched.bench.workload import BenchRequest
from ltrsched.errors import UserError


def test_detailed_result_rows_skip_failures_and_take_the_longest_wait() -> None:
    result = {"ttfts": [1.0, 0.5, 0.0], "latencies": [3.0, 4.5, 0.0], "output_lens": [2, 4, 0],
              "itls": [[2.0], [1.0, 2.5, 0.5], []], "errors": ["", "", "boom"]}
    rows = times_from_vllm(result)
    assert rows == [RequestTimes(1.0, 3.0, 2, 2.0), RequestTimes(0.5, 4.5, 4, 2.5)]
    s = summarize_times("fcfs", "vllm", rows, duration_s=5.0, num_sent=3)
    # per-token latency 1.5 and 1.125 s/token; 6 tokens in 5 s.
    assert s["mean_per_token_latency"] == pytest.approx(1.3125)
    assert s["mean_e2e_s"] == pytest.approx(3.75) and s["mean_ttft_s"] == pytest.approx(0.75)
    assert s["throughput_tokens_per_s"] == pytest.approx(1.2)
    assert s["max_max_wait_s"] == 2.5 and s["num_failed"] == 1


def test_ratios_and_agreement_are_against_vllms_client_on_plain_vllm() -> None:
    rows = [summarize_times("vllm", "vllm", [RequestTimes(1.0, 4.0, 4, 1.0)], 4.0, 1),
            summarize_times("fcfs", "vllm", [RequestTimes(1.0, 2.0, 4, 1.0)], 2.0, 1),
            summarize_times("fcfs", "ltrsched", [RequestTimes(1.1, 2.2, 4, 1.1)], 2.2, 1)]
    add_ratios(rows)
    assert rows[1]["mean_e2e_s_vs_vllm"] == pytest.approx(0.5)
    assert rows[1]["throughput_tokens_per_s_vs_vllm"] == pytest.approx(2.0)
    (agree,) = agreement(rows)
    assert agree["server"] == "fcfs"
    assert agree["mean_e2e_s_ours_vs_vllm"] == pytest.approx(1.1)


def test_custom_dataset_is_one_user_turn_per_line(tmp_path: Path) -> None:
    reqs = [BenchRequest("a", [{"role": "user", "content": "hi \"there\""}], 7)]
    path = write_custom_dataset(reqs, tmp_path / "p.jsonl")
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"prompt": "hi \"there\"", "output_tokens": 7}]
    two_turns = [BenchRequest("b", [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}], 3)]
    with pytest.raises(UserError, match="one user turn"):
        write_custom_dataset(two_turns, tmp_path / "q.jsonl")


@pytest.mark.slow
@pytest.mark.vllm
def test_both_clients_on_real_servers_count_every_replayed_token(tiny_model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("vllm.benchmarks.serve", reason="needs vLLM's benchmark client")
    cfg = VllmClientConfig(model=str(tiny_model_dir), max_model_len=512, max_num_seqs=2, max_num_batched_tokens=512,
                           kv_cache_gib=1, num_requests=4, max_output_len=8, max_prompt_len=16,
                           servers=["vllm", "fcfs"], our_client=["fcfs"], port=8037, out_dir=str(tmp_path))
    doc = bench_vllm_client(cfg, progress=False)
    rows = {(r["server"], r["client"]): r for r in doc["rows"]}
    assert set(rows) == {("vllm", "vllm"), ("fcfs", "vllm"), ("fcfs", "ltrsched")}
    sent = [json.loads(line)["output_tokens"] for line in (tmp_path / "prompts.jsonl").read_text().splitlines()]
    for row in rows.values():
        assert row["num_ok"] == 4 and row["num_failed"] == 0
        assert row["throughput_tokens_per_s"] * row["duration_s"] == pytest.approx(sum(sent))
    assert rows[("vllm", "vllm")]["mean_e2e_s_vs_vllm"] == pytest.approx(1.0)
    assert (tmp_path / "summary.csv").is_file() and len(doc["agreement"]) == 1
