"""The one request type every host (simulator, vLLM plugin) hands to a policy.

Field names follow vLLM V1's ``Request`` so the same policy code reads the same names everywhere. Which fields
a host keeps current: the simulator owns its requests, so all of them. The vLLM plugin mirrors vLLM's request
(``ltrsched.vllm.queue``): identity, lengths, score, length quantiles and priority are set once at arrival;
``num_output_tokens`` is synced after every step only for policies with ``dynamic_rank`` (the core refuses a
policy whose rank reads progress without declaring it); ``status``, ``num_computed_tokens`` and
``num_preemptions`` are the simulator's own (the plugin leaves them at their defaults: vLLM's request holds them);
the starvation and MLFQ fields below are written by the core alone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Status(enum.Enum):
    WAITING = "waiting"  # queued, never scheduled yet
    RUNNING = "running"  # holds a batch slot (and KV blocks)
    PREEMPTED = "preempted"  # was running, evicted; back in the waiting queue
    FINISHED = "finished"


@dataclass(slots=True)
class Request:
    request_id: str
    arrival_time: float  # s, on the host's clock (simulated or wall)
    num_prompt_tokens: int  # tokens in the prompt, chat template included
    max_tokens: int  # output tokens this request may produce (sim: its true length when replayed)
    score: float = 0.0  # ranker score; higher = shorter expected output (the paper's convention)
    priority: int = 0  # user priority; lower is served first and outranks everything else (vLLM's convention)
    true_output_len: int | None = None  # oracle output length; only oracle policies read it
    length_quantiles: tuple[float, float, float] | None = None  # predicted p10, p50, p90 output tokens (set for
    # policies with reads_quantiles)
    num_output_tokens: int = 0  # tokens generated so far (kept across a recompute preemption)
    num_computed_tokens: int = 0  # tokens whose KV is computed; catches up to num_tokens
    status: Status = Status.WAITING
    num_preemptions: int = 0
    # Scheduler bookkeeping, written by RankedRequests and policy hooks only (never by a key function).
    last_scheduled_step: int = 0  # step index at which it last got tokens (or arrived): starvation clock
    quantum_left: int = 0  # > 0 while promoted by starvation prevention: scheduled steps left
    promoted_at_step: int = 0  # step of the promotion now in force; promoted requests are served oldest first
    attained_service_s: float = 0.0  # s of engine time spent on it (MLFQ)
    level: int = 0  # MLFQ queue level (0 = highest)

    @property
    def num_tokens(self) -> int:
        """Prompt plus generated tokens: what ``num_computed_tokens`` must catch up to."""
        return self.num_prompt_tokens + self.num_output_tokens

    @property
    def promoted(self) -> bool:
        return self.quantum_left > 0

    @property
    def is_finished(self) -> bool:
        return self.status is Status.FINISHED
