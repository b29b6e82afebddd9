"""``ltrsched bench plugin`` at a tiny size: both schedulers see the same stream at the configured shape, and the
figures it reports are consistent with each other and in the units their names say."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from ltrsched.bench.overhead import OverheadConfig, format_overhead, run_overhead

pytestmark = pytest.mark.vllm


def test_a_tiny_run_times_both_schedulers_on_the_same_stream() -> None:
    cfg = OverheadConfig(running=8, waiting=40, steps=12, arrivals_per_step=2)
    result = run_overhead(cfg, progress=False)
    assert result["config"] == asdict(cfg)
    vllm, plugin = result["vllm"], result["ltrsched"]
    for r in (vllm, plugin):
        assert r["num_timed_calls"] == 12 and r["num_calls"] > 12  # warm-up calls come first, untimed
        assert r["num_added"] == 8 + 40 + 12 * 2  # the initial queue, then 2 arrivals per timed call
        assert r["running"] == 8  # every slot busy at the end
        assert r["waiting"] >= 40 - r["num_finished"]  # the queue was kept topped up
        assert r["running"] + r["waiting"] + r["num_finished"] == r["num_added"]  # no request lost
        assert 0.0 < r["median_ms"] <= r["p90_ms"]
        # ms per timed call against the s of all calls: the timed ones are a part of the total
        assert 0.0 < r["mean_ms"] * r["num_timed_calls"] / 1e3 <= r["schedule_s"]
    stats = result["plugin_stats"]
    assert stats["num_steps"] == plugin["num_calls"]  # every schedule() call went through the plugin
    assert 0.0 < stats["overhead_s"] < plugin["schedule_s"]  # its own code is a part of schedule()
    assert 0.0 < result["plugin_own_ms_per_step"] * plugin["num_calls"] < plugin["schedule_s"] * 1e3
    text = format_overhead(result)
    assert text.startswith("schedule() at 8 running + 40 waiting, 12 calls each, policy ltr")
    assert "(running 8, waiting" in text and "added by the plugin: mean" in text


def test_the_online_plugin_is_timed_beside_the_plain_one() -> None:
    result = run_overhead(OverheadConfig(running=8, waiting=40, steps=40, arrivals_per_step=2, online=True),
                          progress=False)
    online, plain = result["ltrsched-online"], result["ltrsched"]
    assert online["num_timed_calls"] == plain["num_timed_calls"] == 40
    assert online["num_finished"] == plain["num_finished"]  # the same stream, the same decisions
    stats = result["online"]["plugin_stats"]
    # every finished request reached the learner and the log (the engine never waited: nothing dropped)
    assert stats["num_online_rows"] == stats["num_served_logged"] == online["num_finished"]
    assert stats["num_online_dropped"] == stats["num_served_dropped"] == 0
    assert result["online"]["added_mean_ms"] == pytest.approx(online["mean_ms"] - result["vllm"]["mean_ms"])
    assert "added with online learning + served log: mean" in format_overhead(result)
