from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from ltrsched.policies.base import Policy
from ltrsched.policies.registry import register_policy
from ltrsched.request import Request

SHUFFLE_REGIONS = ("full", "head", "tail", "middle", "hat")


def shuffled_lengths(lengths: Sequence[int], fraction: float, region: str, seed: int = 0) -> list[int]:
    """True lengths with a fraction of them permuted among themselves (the paper's tau-vs-latency tool).

    ``region`` picks which requests: ``full`` any, ``head`` the shortest, ``tail`` the longest, ``middle``
    the central ones, ``hat`` half from each end.
    """
    if region not in SHUFFLE_REGIONS:
        raise ValueError(f"unknown shuffle region {region!r}; known: {', '.join(SHUFFLE_REGIONS)}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"shuffle fraction must be in [0, 1], got {fraction}")
    n = len(lengths)
    k = round(fraction * n)
    rng = random.Random(seed)
    by_length = sorted(range(n), key=lambda i: lengths[i])
    if region == "full":
        chosen = rng.sample(range(n), k)
    elif region == "head":
        chosen = by_length[:k]
    elif region == "tail":
        chosen = by_length[n - k :]
    elif region == "middle":
        start = (n - k) // 2
        chosen = by_length[start : start + k]
    else:
        chosen = by_length[: k // 2] + by_length[n - (k - k // 2) :]
    values = [lengths[i] for i in chosen]
    rng.shuffle(values)
    out = list(lengths)
    for i, v in zip(chosen, values, strict=True):
        out[i] = v
    return out


@register_policy
@dataclass(slots=True)
class ApproxSJF(Policy):
    """Preemptive ranking by true lengths with a fraction shuffled: a ranker of controlled quality."""

    name: ClassVar[str] = "approx-sjf"
    needs_true_length: ClassVar[bool] = True
    fraction: float = 0.5  # share of requests whose lengths are permuted
    region: str = "full"  # which ones: full, head, tail, middle, hat
    seed: int = 0
    _approx: dict[str, int] | None = None  # request_id -> permuted length, set by prepare()

    def prepare(self, requests: Sequence[Request]) -> None:
        lengths = []
        for req in requests:
            if req.true_output_len is None:
                raise ValueError(f"request {req.request_id!r} has no true_output_len; approx-sjf needs it")
            lengths.append(req.true_output_len)
        permuted = shuffled_lengths(lengths, self.fraction, self.region, self.seed)
        self._approx = {req.request_id: n for req, n in zip(requests, permuted, strict=True)}

    def rank(self, req: Request) -> float:
        if self._approx is None:
            raise RuntimeError("approx-sjf needs the whole request set up front: call prepare() first")
        return float(self._approx[req.request_id])
