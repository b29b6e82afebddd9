"""A soft age boost between LTR and FCFS (UniBoost-like), with a key that never goes stale."""

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
class LTRBoost(Policy):
    """rank = arrival_time − boost_s × score: arrival order, bent toward the ranker by ``boost_s`` s per score unit.

    Waiting ages every request at the same rate, so comparing "arrival − boost" is comparing "boost + wait" at any
    moment: the key is fixed at arrival and the waiting heap never needs re-keying. ``boost_s`` → ∞ is LTR, 0 is
    FCFS. A request is overtaken only by a later one whose score beats its own by more than (their arrival gap) /
    ``boost_s``; with scores spanning Δ units, nothing arriving more than ``boost_s × Δ`` s after it goes first (a
    bound on its wait, in arrivals). What it trades: a larger boost keeps more of the ranker's mean gain and
    widens that window; a smaller one caps the tail closer to FCFS's.
    """

    name: ClassVar[str] = "ltr-boost"
    reads_score: ClassVar[bool] = True
    boost_s: float = 16.0  # s of queueing credit per score unit (noise-model scores are N(0,1)); 0 = FCFS; 16 kept
    # 85-134% of ranking-alone's mean gain in docs/results.md ("Tail guards"), 4 only 45-114%

    def __post_init__(self) -> None:
        if not (self.boost_s >= 0 and math.isfinite(self.boost_s)):
            raise UserError(f"policy 'ltr-boost': boost_s must be a finite number >= 0, got {self.boost_s}")

    def rank(self, req: Request) -> float:
        return req.arrival_time - self.boost_s * req.score
