"""Earliest virtual deadline first: each request may wait a multiple of its own predicted service."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ltrsched.errors import UserError
from ltrsched.policies.base import Policy
from ltrsched.policies.registry import register_policy
from ltrsched.request import Request


@register_policy
@dataclass(slots=True)
class LTRDeadline(Policy):
    """rank = arrival_time + slack_s × exp(−spread × score): a virtual deadline, earliest first.

    ``exp(−spread × score)`` is the predicted output length relative to a request of score 0: the ranker's score
    is roughly minus a z-scored log length, so with ``spread`` = std(log length) × corr(score, −log length) the
    factor is the conditional median length over the median (ShareGPT under Llama-3: std(log length) ≈ 1.2; under
    the tau:0.40 noise model the correlation is sin(0.2π) ≈ 0.59, hence the default 0.7). A request's deadline is
    then its arrival plus ``slack_s`` per median-length of predicted service: a bounded response ratio, like HRRN,
    but fixed at arrival, so the waiting heap never needs re-keying. It is overtaken only by requests arriving
    before its own deadline, so short-predicted requests wait little and nothing waits forever. What it trades:
    ``slack_s`` → ∞ orders by score alone (LTR); → 0 is FCFS; ``spread`` sets how much longer a long-predicted
    request may be made to wait (× e^(spread × score gap)).
    """

    name: ClassVar[str] = "ltr-deadline"
    reads_score: ClassVar[bool] = True
    slack_s: float = 8.0  # s a median-predicted (score 0) request may be overtaken for; scales every deadline (8
    # kept 60-128% of ranking-alone's mean gain in docs/results.md ("Tail guards"), 2 only 20-89%)
    spread: float = 0.7  # log predicted length per score unit (std of log length × its correlation with the score)

    def __post_init__(self) -> None:
        if not (self.slack_s >= 0 and math.isfinite(self.slack_s)):
            raise UserError(f"policy 'ltr-deadline': slack_s must be a finite number >= 0, got {self.slack_s}")
        if not (0 <= self.spread <= 5):
            raise UserError(f"policy 'ltr-deadline': spread must be in [0, 5], got {self.spread}")

    def rank(self, req: Request) -> float:
        return req.arrival_time + self.slack_s * math.exp(-self.spread * max(min(req.score, 20.0), -20.0))
