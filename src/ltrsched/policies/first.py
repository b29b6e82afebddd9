"""LTR that gives every new arrival its prefill and first tokens before ranking it (first tokens early)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ltrsched.errors import UserError
from ltrsched.policies.base import Policy
from ltrsched.policies.ltr import LTR
from ltrsched.policies.registry import register_policy
from ltrsched.request import Request


@register_policy
@dataclass(slots=True)
class LTRFirst(Policy):
    """FCFS among requests with fewer than ``first_tokens`` outputs, ahead of the rest; then LTR by score.

    TTFT is what a chat user sees first, and answers of a handful of tokens finish inside the first phase
    whatever their score. The cost is churn: a new arrival outranks every request past its first phase, so at
    ``max_num_seqs`` or under KV pressure it evicts one (a re-prefill under recompute preemption), and the
    rank moves as a request runs (dynamic rank: hosts sync progress and re-rank each step). Starvation
    prevention is on by default as for ``ltr``; ``first_tokens`` = 0 is plain ``ltr``.
    """

    name: ClassVar[str] = "ltr-first"
    dynamic_rank: ClassVar[bool] = True
    reads_score: ClassVar[bool] = True
    starvation_threshold: ClassVar[int] = LTR.starvation_threshold
    first_tokens: int = 4  # output tokens every arrival gets, FCFS, before it is ranked by score

    def __post_init__(self) -> None:
        if self.first_tokens < 0:
            raise UserError(f"policy 'ltr-first': first_tokens must be >= 0, got {self.first_tokens}")

    def rank(self, req: Request) -> float:
        if req.num_output_tokens < self.first_tokens:
            return float("-inf")  # ties broken by arrival: FCFS among requests still in the first phase
        return -req.score
