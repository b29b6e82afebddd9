"""Oracles that know each request's true output length: the upper bound a ranker chases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ltrsched.policies.base import Policy
from ltrsched.policies.registry import register_policy
from ltrsched.request import Request


def _true_len(req: Request) -> int:
    if req.true_output_len is None:
        raise ValueError(f"request {req.request_id!r} has no true_output_len; oracle policies need it")
    return req.true_output_len


@register_policy
@dataclass(slots=True)
class SJFOracle(Policy):
    """Shortest true output first, non-preemptive: a running request keeps its slot."""

    name: ClassVar[str] = "sjf-oracle"
    preemptive: ClassVar[bool] = False
    needs_true_length: ClassVar[bool] = True

    def rank(self, req: Request) -> float:
        return float(_true_len(req))


@register_policy
@dataclass(slots=True)
class SRTFOracle(Policy):
    """Shortest true remaining output first, re-ranked every step, preemptive."""

    name: ClassVar[str] = "srtf-oracle"
    dynamic_rank: ClassVar[bool] = True
    needs_true_length: ClassVar[bool] = True

    def rank(self, req: Request) -> float:
        return float(max(_true_len(req) - req.num_output_tokens, 0))
