"""The shared per-step log: durations come from the next step's start; the reader ignores unknown keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ltrsched.steplog import StepLogWriter, StepRecord, read_step_log


def _rec(step: int, start_s: float) -> StepRecord:
    return StepRecord(step=step, start_s=start_s, duration_s=0.0, num_prefill_tokens=10 * step,
                      num_decode_tokens=step, num_scheduled_seqs=step + 1, num_kv_tokens=100 * step,
                      num_running=3, num_waiting=7, num_preempted=0)


def test_durations_from_next_start_and_close(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "steps.jsonl"
    with StepLogWriter(path) as log:
        for step, start in enumerate([1.0, 1.25, 2.0]):
            log.add(_rec(step, start))
        assert log.num_written == 2  # the last step waits for its duration
        log.close(end_s=2.5)
    got = list(read_step_log(path))
    assert [r.step for r in got] == [0, 1, 2]
    assert [r.duration_s for r in got] == [0.25, 0.75, 0.5]
    assert got[1] == StepRecord(1, 1.25, 0.75, 10, 1, 2, 100, 3, 7, 0)


def test_reader_ignores_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "steps.jsonl"
    obj = {"step": 17, "start_s": 12.345, "duration_s": 0.0412, "num_prefill_tokens": 96, "num_decode_tokens": 14,
           "num_scheduled_seqs": 15, "num_kv_tokens": 5210, "num_running": 16, "num_waiting": 184,
           "num_preempted": 0, "a_future_key": 1}
    path.write_text(json.dumps(obj) + "\n\n")
    (rec,) = read_step_log(path)
    assert rec.num_kv_tokens == 5210 and rec.duration_s == 0.0412


def _decode_steps(path: Path, step_s: dict[int, float], per_size: int = 25) -> None:
    """A step log with ``per_size`` decode-only steps at each batch size, each ``step_s[size]`` busy, plus prefill
    steps (which must not count)."""
    with StepLogWriter(path) as log:
        t, step = 0.0, 0
        for size, busy in step_s.items():
            for kind in ["prefill"] + ["decode"] * per_size:
                rec = StepRecord(step=step, start_s=t, duration_s=0.0, num_prefill_tokens=64 if kind == "prefill"
                                 else 0, num_decode_tokens=size, num_scheduled_seqs=size, num_kv_tokens=500,
                                 num_running=size, num_waiting=0, num_preempted=0)
                log.add(rec)
                log.mark_busy_end(t + (5.0 if kind == "prefill" else busy))
                t, step = t + 10.0, step + 1
        log.close(end_s=t)


def test_engine_speed_compares_decode_steps_at_the_batch_sizes_both_ran(tmp_path: Path) -> None:
    from ltrsched.steplog import decode_step_medians, relative_step_time

    _decode_steps(tmp_path / "a.jsonl", {4: 0.05, 8: 0.08})
    _decode_steps(tmp_path / "b.jsonl", {8: 0.10, 12: 0.2})  # 1.25x slower at the one size both ran
    a, b = (decode_step_medians(read_step_log(tmp_path / f"{n}.jsonl")) for n in "ab")
    assert a.keys() == {4, 8} and a[4] == pytest.approx(0.05) and a[8] == pytest.approx(0.08)  # prefill left out
    assert relative_step_time(b, a) == pytest.approx(1.25) and relative_step_time(a, a) == 1.0
    assert relative_step_time({2: 0.1}, a) is None  # no size in common
    assert decode_step_medians(read_step_log(tmp_path / "a.jsonl"), min_steps=26) == {}  # too few to tell
