"""`bench serve` on a real (tiny) vLLM engine with the plugin, then `bench calibrate` on the folder it wrote."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ltrsched.bench.calibrate import CalibrateConfig, calibrate, format_calibration
from ltrsched.bench.serve import BenchServeConfig, bench_serve
from ltrsched.errors import UserError

# A real engine serves two policies (~40 s on 2 cores) before the first test.
pytestmark = [pytest.mark.vllm, pytest.mark.slow]


@pytest.fixture(scope="module")
def run_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench-run")
    cfg = BenchServeConfig(model=str(tiny_model_dir), max_num_seqs=2, max_num_batched_tokens=512, max_model_len=512,
                           kv_cache_gib=1, workload="burst", num_requests=8, policies=["fcfs", "srtf-oracle"],
                           max_output_len=24, max_prompt_len=40, out_dir=str(out))
    bench_serve(cfg, progress=False)
    return out


def test_serve_writes_records_summary_and_step_logs(run_dir: Path) -> None:
    for name in ("summary.json", "burst-records.csv", "burst-cdf.png", "burst-fcfs-steps.jsonl",
                 "burst-srtf-oracle-steps.jsonl"):
        assert (run_dir / name).is_file(), name
    configs = json.loads((run_dir / "summary.json").read_text())["plugin_configs"]
    assert configs["srtf-oracle"]["policy"] == "srtf-oracle"
    assert configs["srtf-oracle"]["starvation_threshold"] == 0  # the oracle is the pure SRTF reference
    steps = [json.loads(line) for line in (run_dir / "burst-fcfs-steps.jsonl").read_text().splitlines()]
    assert sum(s["num_decode_tokens"] for s in steps) > 0
    assert all(0 < s["busy_s"] <= s["duration_s"] + 1e-9 for s in steps if s["num_scheduled_seqs"])
    rows = {r["policy"]: r for r in json.loads((run_dir / "summary.json").read_text())["patterns"]["burst"]}
    assert rows["fcfs"]["step_time_vs_first"] == 1.0  # each engine's speed against the first run's, from the logs
    assert 0.2 < rows["srtf-oracle"]["step_time_vs_first"] < 5.0


def test_calibrated_simulator_replays_each_run(run_dir: Path, tmp_path: Path) -> None:
    cost_path = tmp_path / "cost.json"
    doc = calibrate(CalibrateConfig(run_dir=str(run_dir), out=str(cost_path)), progress=False)
    assert cost_path.is_file()
    assert doc["residuals"]["num_steps"] >= 8
    rows = {r["policy"]: r for r in doc["results"]}
    assert set(rows) == {"fcfs", "srtf-oracle"}
    for row in rows.values():
        assert row["num_requests"] == 8
        assert row["real_mean_per_token_latency"] > 0 and row["sim_mean_per_token_latency"] > 0
        # A fit to the run's own steps reproduces its total time; the tiny engine's steps are noisy, hence loose.
        assert math.isfinite(row["error_makespan_s"]) and abs(row["error_makespan_s"]) < 0.5
    # Ordering by true length beats arrival order in the simulator as it did for real.
    assert rows["srtf-oracle"]["sim_mean_per_token_latency"] <= rows["fcfs"]["sim_mean_per_token_latency"]
    table = format_calibration(doc)
    assert "srtf-oracle" in table and "r2" in table


def test_missing_step_log_is_named(run_dir: Path) -> None:
    with pytest.raises(UserError, match=r"burst-ltr-steps\.jsonl"):
        calibrate(CalibrateConfig(run_dir=str(run_dir), fit_on=["ltr"]), progress=False)


def test_a_folder_without_a_run_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"summary\.json"):
        calibrate(CalibrateConfig(run_dir=str(tmp_path)), progress=False)
