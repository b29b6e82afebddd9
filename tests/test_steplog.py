"""The shared per-step log: durations come from the next step's start; the reader ignores unknown keys."""

from __future__ import annotations

import json
from pathlib import Path

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
