from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ltrsched.policies.base import Policy
from ltrsched.policies.registry import register_policy
from ltrsched.request import Request


@register_policy
@dataclass(slots=True)
class PerceptionOnly(Policy):
    """Perception only (Zheng et al., NeurIPS'23): the LLM first states its length in its own first tokens.

    Requests are served FCFS until they have ``perception_tokens`` outputs, then by the stated length,
    which hosts pass as the score (higher = shorter, like every ranker). Hosts that replay lengths add the
    perception tokens to the output length, as the paper's benchmark did.
    """

    name: ClassVar[str] = "po"
    dynamic_rank: ClassVar[bool] = True
    reads_score: ClassVar[bool] = True
    perception_tokens: int = 15  # output tokens spent stating the length (the paper's half of 30)

    def extra_output_tokens(self) -> int:
        return self.perception_tokens

    def rank(self, req: Request) -> float:
        if req.num_output_tokens < self.perception_tokens:
            return float("-inf")  # ties broken by arrival: FCFS among requests still perceiving
        return -req.score
