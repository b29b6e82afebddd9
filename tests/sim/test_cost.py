from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ltrsched.cli import main
from ltrsched.errors import UserError
from ltrsched.policies import RankedRequests, make_policy
from ltrsched.sim.cost import PRESETS, calibration_residuals, fit, get_preset
from ltrsched.sim.engine import Engine, EngineConfig
from ltrsched.sim.run import build_requests
from ltrsched.sim.workload import load_items, with_arrivals
from ltrsched.steplog import StepLogWriter, StepRecord, read_step_log


def test_presets_match_the_vidur_anchors_within_30_percent() -> None:
    for name in PRESETS:
        rows = calibration_residuals(name)
        assert max(abs(r["rel_error"]) for r in rows) < 0.3
        # Above 128 tokens (where the steps of a loaded engine are) the line is within 15%.
        assert all(abs(r["rel_error"]) < 0.15 for r in rows if r["tokens"] >= 128)
    with pytest.raises(UserError, match="unknown cost preset"):
        get_preset("gpt-5")


def _write_sim_steplog(path: Path) -> None:
    """A real step log: the simulator's steps under the 8B preset, written with the shared StepLogWriter."""
    items = with_arrivals(load_items("random", 300, seed=2), "poisson", rate=20.0)
    reqs = build_requests(items, np.array([-it.output_len for it in items], dtype=float))
    engine = Engine(RankedRequests(make_policy("ltr")), get_preset("llama3-8b-a100"), EngineConfig())
    with StepLogWriter(path) as writer:
        engine.on_step = lambda eng, s, sched: writer.write(StepRecord(
            s.step, s.start_s, s.duration_s, s.num_prefill_tokens, s.num_decode_tokens, s.num_scheduled_seqs,
            s.num_kv_tokens, s.num_running, s.num_waiting, s.num_preempted))
        engine.run(reqs)


def test_fit_recovers_the_coefficients_from_a_step_log(tmp_path: Path) -> None:
    log = tmp_path / "steps.jsonl"
    _write_sim_steplog(log)
    model, stats = fit(read_step_log(log))
    truth = get_preset("llama3-8b-a100")
    assert stats["mean_abs_rel_error"] < 1e-3
    assert model.base_s == pytest.approx(truth.base_s, rel=1e-3)
    assert model.prefill_s_per_token == pytest.approx(truth.prefill_s_per_token, rel=1e-3)
    assert model.decode_s_per_seq == pytest.approx(truth.decode_s_per_seq, rel=1e-3)
    assert model.kv_s_per_token == pytest.approx(truth.kv_s_per_token, rel=1e-2)

    out = tmp_path / "cost.json"
    assert main(["fit-cost", str(log), "--out", str(out), "--json"]) == 0
    assert json.loads(out.read_text())["base_s"] == pytest.approx(truth.base_s, rel=1e-3)


def test_fit_cost_refuses_a_short_or_missing_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit-cost", str(tmp_path / "none.jsonl")]) == 2
    assert "no step log" in capsys.readouterr().err
    log = tmp_path / "short.jsonl"
    log.write_text(json.dumps({"step": 0, "start_s": 0, "duration_s": 0.01, "num_prefill_tokens": 3,
                               "num_decode_tokens": 0, "num_scheduled_seqs": 1, "num_kv_tokens": 0,
                               "num_running": 1, "num_waiting": 0, "num_preempted": 0}) + "\n")
    assert main(["fit-cost", str(log)]) == 2
    assert "at least 8 steps" in capsys.readouterr().err


def test_idle_pauses_and_shutdown_do_not_count_as_step_time() -> None:
    from ltrsched.sim.cost import step_times
    from ltrsched.steplog import StepRecord

    def rec(duration: float, busy: float, decode: int) -> StepRecord:
        return StepRecord(step=0, start_s=0.0, duration_s=duration, num_prefill_tokens=0, num_decode_tokens=decode,
                          num_scheduled_seqs=decode, num_kv_tokens=0, num_running=decode, num_waiting=0,
                          num_preempted=0, busy_s=busy)

    # 2 ms between steps outside the scheduler; the third step was followed by a 5 s wait for the next arrival.
    rows = [rec(0.012, 0.010, 4), rec(0.022, 0.020, 8), rec(5.0, 0.010, 4), rec(0.012, 0.010, 4)]
    assert np.allclose(step_times(rows), [0.012, 0.022, 0.012, 0.012])
    model, stats = fit(rows * 3)
    assert model.decode_s_per_seq == pytest.approx(0.0025, rel=1e-3)  # 10 ms more for 4 more sequences
    assert stats["total_rel_error"] == pytest.approx(0.0, abs=1e-6)
    # A log without busy times (older plugins) keeps its durations as they are.
    old = [rec(d, 0.0, 4) for d in (0.01, 0.02)]
    assert np.allclose(step_times(old), [0.01, 0.02])
