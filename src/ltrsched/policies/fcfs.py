from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ltrsched.policies.base import Policy
from ltrsched.policies.registry import register_policy
from ltrsched.request import Request


@register_policy
@dataclass(slots=True)
class FCFS(Policy):
    """Earliest arrival first; never evicts for a waiting request (vLLM's default)."""

    name: ClassVar[str] = "fcfs"
    preemptive: ClassVar[bool] = False

    def rank(self, req: Request) -> float:
        return req.arrival_time
