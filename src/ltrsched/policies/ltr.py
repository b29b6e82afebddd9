from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ltrsched.policies.base import Policy
from ltrsched.policies.registry import register_policy
from ltrsched.request import Request


@register_policy
@dataclass(slots=True)
class LTR(Policy):
    """Learning to rank: highest ranker score (shortest predicted output) first, preemptive.

    The score is computed once, at arrival. Starvation prevention (Algorithm 1; threshold 200 steps, quantum 10
    in the paper) applies to any policy through the host's config, and is on for this one by default, at 400
    steps: under recompute preemption (vLLM V1) 200 throws most of the ranking gain away near saturation, 400
    keeps 82-93% of it and still bounds the wait (docs/results.md, "Recommendation for ltr's defaults").
    """

    name: ClassVar[str] = "ltr"
    reads_score: ClassVar[bool] = True
    starvation_threshold: ClassVar[int] = 400  # steps; the paper's 200 thrashes under recompute preemption

    def rank(self, req: Request) -> float:
        return -req.score
