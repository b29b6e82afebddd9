"""The OpenAI server with the plugin answers chat requests end to end, and the streaming bench client measures them."""

from __future__ import annotations

import importlib
import json
import os
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from ltrsched.bench.client import run_openai
from ltrsched.bench.runs import POLICY_RUNS
from ltrsched.bench.workload import BenchRequest
from ltrsched.vllm.server import ServeConfig, Server, _group_alive
from tests.bench.tiny_llama import build_tiny_llama

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def _plugin_policy() -> str:
    """fcfs through the plugin once ``ltrsched.vllm.make_scheduler`` exists; vLLM's own scheduler until then."""
    return "fcfs" if hasattr(importlib.import_module("ltrsched.vllm"), "make_scheduler") else "vllm"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _metrics(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        return resp.read().decode()


def test_server_with_plugin_answers_chat_and_stops_cleanly(tiny_model_dir: Path, tmp_path: Path) -> None:
    cfg = ServeConfig(model=str(tiny_model_dir), max_model_len=256, max_num_seqs=4, max_num_batched_tokens=512,
                      kv_cache_gib=1, port=_free_port(), policy=_plugin_policy(),
                      log_file=str(tmp_path / "server.log"))
    server = Server(cfg)
    with server:
        assert server.proc is not None
        pgid = server.proc.pid
        body = {"model": server.model_name, "messages": [{"role": "user", "content": "write a short poem"}],
                "max_tokens": 7, "ignore_eos": True, "temperature": 0.0}
        req = urllib.request.Request(server.url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            answer = json.load(resp)
        assert answer["usage"]["completion_tokens"] == 7
        assert answer["choices"][0]["message"]["role"] == "assistant"

        # The streaming load generator: replayed lengths come back exactly, timestamps are ordered.
        requests = [BenchRequest(f"q{i}", [{"role": "user", "content": "explain the scheduler"}], n, 0.05 * i)
                    for i, n in enumerate((3, 12, 5))]
        res = run_openai(server.url, server.model_name, requests, POLICY_RUNS[cfg.policy], progress=False)
        assert res.num_failed == 0
        by_id = {r.request_id: r for r in res.records}
        assert {k: r.num_output_tokens for k, r in by_id.items()} == {"q0": 3, "q1": 12, "q2": 5}
        for r in res.records:
            assert r.arrival_time <= r.first_token_time <= r.finish_time
            assert r.num_prompt_tokens > 0
        if cfg.policy != "vllm":  # the plugin's counters, on vLLM's own /metrics, beside vllm:*
            deadline = time.monotonic() + 20  # pushed every 5 s
            while time.monotonic() < deadline and "ltrsched_steps_total" not in _metrics(server.url):
                time.sleep(1)
            text = _metrics(server.url)
            assert "vllm:num_requests_running" in text
            steps = [line for line in text.splitlines() if line.startswith("ltrsched_steps_total")]
            assert steps and float(steps[0].split()[-1]) > 0
    # The whole process group (API server, engine core, worker) is gone.
    assert not _group_alive(pgid)
    assert "ltrsched" in (tmp_path / "server.log").read_text() or cfg.policy == "vllm"
    assert os.path.getsize(tmp_path / "server.log") > 0
