from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ltrsched.policies.base import Policy
from ltrsched.policies.registry import register_policy
from ltrsched.request import Request


@register_policy
@dataclass(slots=True)
class MLFQ(Policy):
    """FastServe-style multi-level feedback queue, needing no prediction.

    A request starts at level 0 (or, with skip-join, at the level whose quantum covers its prefill) and
    drops a level each time its attained engine time passes ``base_quantum_s * growth ** level`` (as the
    paper's MLFQ baseline: q=0.03 s, k=10 for ShareGPT bursts).
    Lower level first, FCFS within a level.
    """

    name: ClassVar[str] = "mlfq"
    dynamic_rank: ClassVar[bool] = True
    base_quantum_s: float = 0.03  # s of engine time at level 0 (the paper's ShareGPT burst setting)
    growth: float = 10.0  # quantum multiplier per level ("thres" in the paper's schedule strings)
    max_level: int = 16
    skip_join: bool = False  # enter at a lower level when the prompt alone exceeds the top quanta
    prefill_s_per_token: float = 0.0  # skip-join's prefill-time estimate (s per prompt token)

    def rank(self, req: Request) -> float:
        return float(req.level if req.attained_service_s > 0 else self.entry_level(req))

    def entry_level(self, req: Request) -> int:
        if not self.skip_join or self.prefill_s_per_token <= 0:
            return 0
        prefill_s = req.num_prompt_tokens * self.prefill_s_per_token
        level = 0
        while level < self.max_level and prefill_s > self.quantum_s(level):
            level += 1
        return level

    def quantum_s(self, level: int) -> float:
        return self.base_quantum_s * self.growth**level

    def on_scheduled(self, req: Request, num_new_tokens: int, step_time_s: float) -> None:
        if req.attained_service_s == 0.0 and req.level == 0:
            req.level = self.entry_level(req)
        req.attained_service_s += step_time_s
        while req.level < self.max_level and req.attained_service_s > self.quantum_s(req.level):
            req.level += 1
