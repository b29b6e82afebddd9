"""The engine's per-step log: one JSON object per scheduler step, for ``ltrsched fit-cost`` to calibrate the simulator.

Format (JSONL), shared by the vLLM plugin (writer) and the simulator's cost fit (reader)::

    {"step": 17, "start_s": 12.345, "duration_s": 0.0412, "num_prefill_tokens": 96, "num_decode_tokens": 14,
     "num_scheduled_seqs": 15, "num_kv_tokens": 5210, "num_running": 16, "num_waiting": 184, "num_preempted": 0}

A step's duration is only known when the next step starts, so the writer holds one record back. ``busy_s`` ends
when the engine has applied the step's outputs: it leaves out idle pauses between arrivals and the shutdown.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


@dataclass(slots=True)
class StepRecord:
    step: int  # scheduler step index (0-based, per engine)
    start_s: float  # s on a monotonic clock when schedule() began
    duration_s: float  # s from this schedule() to the next: what the engine spent on the step
    num_prefill_tokens: int  # prompt (or recompute) tokens computed this step
    num_decode_tokens: int  # decode tokens (one per decoding request)
    num_scheduled_seqs: int  # requests that got tokens
    num_kv_tokens: int  # sum over scheduled requests of tokens already in KV before the step (attention reads)
    num_running: int  # requests holding a batch slot after scheduling
    num_waiting: int  # requests queued after scheduling
    num_preempted: int  # requests preempted while scheduling this step (for waiting ones or KV pressure)
    busy_s: float = 0.0  # s from schedule() to the end of update_from_output (the model step); 0 = not measured
    num_swap_tokens: int = 0  # KV tokens moved to or from host memory (the simulator's swap preemption; vLLM V1: 0)


class StepLogWriter:
    """Appends ``StepRecord``s as JSONL; ``begin``/``finish`` pairs fill ``duration_s`` from the next start."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = self.path.open("a", encoding="utf-8")
        self._pending: StepRecord | None = None  # last step, waiting for its duration
        self.num_written = 0  # records written so far

    def add(self, record: StepRecord) -> None:
        """Queue ``record``; the previous one is written with duration = this start - its start."""
        if self._pending is not None:
            self._pending.duration_s = max(record.start_s - self._pending.start_s, 0.0)
            self.write(self._pending)
        self._pending = record

    def mark_busy_end(self, end_s: float) -> None:
        """The held-back step's model work ended at ``end_s`` (its duration still runs to the next start)."""
        if self._pending is not None:
            self._pending.busy_s = max(end_s - self._pending.start_s, 0.0)

    def write(self, record: StepRecord) -> None:
        if self._file is None:
            raise ValueError(f"step log {self.path} is closed")
        self._file.write(json.dumps(dataclasses.asdict(record)) + "\n")
        self.num_written += 1

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self, end_s: float | None = None) -> None:
        """Write the held-back step (its duration ends at ``end_s`` if given, else stays 0) and close."""
        if self._pending is not None and self._file is not None:
            if end_s is not None:
                self._pending.duration_s = max(end_s - self._pending.start_s, 0.0)
            self.write(self._pending)
            self._pending = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> StepLogWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_step_log(path: str | Path) -> Iterator[StepRecord]:
    """Records of a step log, in order; unknown keys are ignored so the format can grow."""
    names = {f.name for f in dataclasses.fields(StepRecord)}
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                obj = json.loads(line)
                yield StepRecord(**{k: v for k, v in obj.items() if k in names})


def decode_step_medians(records: Iterable[StepRecord], min_steps: int = 20) -> dict[int, float]:
    """Median busy s of the decode-only steps, by how many requests decoded (sizes with at least ``min_steps``
    steps): what one engine step costs at each batch size, whatever the policy chose to run."""
    by_size: dict[int, list[float]] = {}
    for r in records:
        if r.num_prefill_tokens == 0 and r.num_decode_tokens > 0 and r.busy_s > 0:
            by_size.setdefault(r.num_decode_tokens, []).append(r.busy_s)
    return {n: statistics.median(v) for n, v in sorted(by_size.items()) if len(v) >= min_steps}


def relative_step_time(run: dict[int, float], reference: dict[int, float]) -> float | None:
    """How much slower ``run``'s engine stepped than ``reference``'s: the median, over the batch sizes both ran,
    of the ratio of their median decode-only step times (None when they share no size)."""
    ratios = [run[n] / reference[n] for n in run.keys() & reference.keys() if reference[n] > 0]
    return statistics.median(ratios) if ratios else None
