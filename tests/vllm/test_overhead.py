"""``ltrsched bench plugin`` at a tiny size: both schedulers see the same stream and reach the same state."""

from __future__ import annotations

import pytest

pytest.importorskip("vllm")

from ltrsched.vllm.overhead import OverheadConfig, format_report, run_overhead

pytestmark = pytest.mark.vllm


def test_fcfs_plugin_makes_vllms_decisions_and_reports_its_cost() -> None:
    cfg = OverheadConfig(num_running=8, num_waiting=40, num_steps=12, num_warmup_steps=3, policy="fcfs",
                         min_output_len=2, max_output_len=40)
    result = run_overhead(cfg, progress=False)
    base, plug = result["vllm_priority"], result["ltrsched"]
    for s in (base, plug):
        assert s["mean_running"] == 8 and s["mean_waiting"] == 40  # the target's shape: full batch, full queue
    # FCFS in the plugin and vLLM's queue with equal priorities admit the same requests: same work per step.
    assert (plug["num_admitted"], plug["mean_tokens_per_step"]) == (base["num_admitted"],
                                                                     base["mean_tokens_per_step"])
    assert plug["num_admitted"] > 0  # requests finished and were replaced during the timed steps
    assert result["plugin_own_code_mean_ms"] > 0.0
    assert "ltrsched (fcfs)" in format_report(result)
