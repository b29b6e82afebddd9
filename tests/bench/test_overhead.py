"""``ltrsched bench plugin`` at a tiny size: both schedulers reach the measured state and the plugin counts its cost."""

from __future__ import annotations

import pytest

pytest.importorskip("vllm")

from ltrsched.bench.overhead import OverheadConfig, run_overhead

pytestmark = pytest.mark.vllm


def test_overhead_bench_measures_both_schedulers_at_the_configured_shape() -> None:
    cfg = OverheadConfig(running=8, waiting=40, steps=12, arrivals_per_step=2)
    result = run_overhead(cfg, progress=False)
    for name in ("vllm", "ltrsched"):
        r = result[name]
        assert r["running"] == 8  # slots full during the timed calls
        assert r["waiting"] >= 40  # the queue never drained (arrivals top it up)
        assert 0.0 < r["median_ms"] <= r["p90_ms"]
    stats = result["plugin_stats"]
    assert stats["num_steps"] > cfg.steps  # warm-up steps + timed steps all went through the plugin
    assert result["plugin_own_ms_per_step"] > 0.0
    assert result["added_mean_ms"] == pytest.approx(result["ltrsched"]["mean_ms"] - result["vllm"]["mean_ms"])
