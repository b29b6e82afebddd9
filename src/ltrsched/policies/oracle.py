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


@dataclass(slots=True)
class _TrueLength(Policy):
    """Ranks by the true output length, or by what remains of it once the request has produced tokens."""

    needs_true_length: ClassVar[bool] = True
    remaining: ClassVar[bool] = False  # subtract the tokens produced so far (then the rank moves: dynamic_rank)

    def rank(self, req: Request) -> float:
        done = req.num_output_tokens if self.remaining else 0
        return float(max(_true_len(req) - done, 0))


@register_policy
@dataclass(slots=True)
class SJFOracle(_TrueLength):
    """Shortest true output first, non-preemptive: a running request keeps its slot."""

    name: ClassVar[str] = "sjf-oracle"
    preemptive: ClassVar[bool] = False


@register_policy
@dataclass(slots=True)
class SRTFOracle(_TrueLength):
    """Shortest true remaining output first, re-ranked every step, preemptive."""

    name: ClassVar[str] = "srtf-oracle"
    dynamic_rank: ClassVar[bool] = True
    remaining: ClassVar[bool] = True
