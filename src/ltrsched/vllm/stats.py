"""What the plugin measures about itself: one counters object, and the step-log record of a scheduled step."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ltrsched.steplog import StepRecord


@dataclass(slots=True)
class PluginStats:
    """Counters since the scheduler started; ``ltrsched_stats()`` reports them with the scorer's."""

    num_steps: int = 0  # schedule() calls
    overhead_s: float = 0.0  # s in the plugin's own code per step, scoring excluded, preemptions included
    preempt_s: float = 0.0  # s of that inside vLLM's _preempt_request (freeing the victims' KV blocks)
    num_preempted_for_waiting: int = 0  # evictions at max_num_seqs for better waiting requests
    num_kv_preemptions: int = 0  # evictions under KV pressure (vLLM's own, victims by rank)
    last_start_s: float = 0.0  # monotonic s when the latest schedule() began
    last_step_s: float = 0.0  # s between the two latest schedule() calls (the engine's step time)

    def begin_step(self) -> float:
        """Stamp a schedule() call; returns its start (monotonic s)."""
        start = time.monotonic()
        if self.num_steps:
            self.last_step_s = start - self.last_start_s
        self.last_start_s = start
        return start

    def as_dict(self) -> dict[str, float]:
        out = asdict(self)
        del out["last_start_s"], out["last_step_s"]
        return out


def step_record(step: int, start_s: float, num_scheduled_tokens: Mapping[str, int], requests: Mapping[str, Any],
                num_running: int, num_waiting: int, num_preempted: int) -> StepRecord:
    """The step log's record of a scheduled step, read off vLLM's requests after its schedule() ran.

    vLLM has already advanced ``num_computed_tokens`` by the scheduled tokens, so the KV a request had before the
    step is the difference; a request that gets one token past its prompt is decoding.
    """
    prefill = decode = kv = 0
    for rid, n in num_scheduled_tokens.items():
        vreq = requests[rid]
        before = vreq.num_computed_tokens - n
        kv += max(before, 0)
        if n == 1 and before >= vreq.num_prompt_tokens:
            decode += 1
        else:
            prefill += n
    return StepRecord(step=step, start_s=start_s, duration_s=0.0, num_prefill_tokens=prefill,
                      num_decode_tokens=decode, num_scheduled_seqs=len(num_scheduled_tokens), num_kv_tokens=kv,
                      num_running=num_running, num_waiting=num_waiting, num_preempted=num_preempted)
