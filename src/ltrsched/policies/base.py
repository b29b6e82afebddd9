"""What a policy is, and the pure helpers every host uses to preempt by it.

A policy maps a request to one float, its *rank value* (smaller is served first). The full sort key adds,
in front, the user's priority and the starvation promotion, and behind, arrival time and a sequence
number, so that no two keys tie and the order is total and reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from ltrsched.request import Request

# (priority, 0 if promoted else 1, rank value, arrival_time, admission number); for a promoted request
# (priority, 0, promotion step, rank value, admission number).
SortKey = tuple[int, int, float, float, int]


@dataclass(slots=True)
class Policy:
    """Base class: subclasses set ``name`` and implement ``rank``."""

    name: ClassVar[str] = ""
    # May a better waiting request evict a running one (at max_num_seqs)? Non-preemptive policies
    # still order the waiting queue and pick KV-pressure victims by rank.
    preemptive: ClassVar[bool] = True
    # Does a running request's rank change as it runs (remaining length, MLFQ level)? Hosts then re-rank
    # scheduled requests after every step; otherwise a rank is computed once per queue entry.
    dynamic_rank: ClassVar[bool] = False
    # Needs the true output length (oracle policies); hosts that lack it must refuse the policy.
    needs_true_length: ClassVar[bool] = False

    def rank(self, req: Request) -> float:
        """Smaller is served first. Pure: must not write to ``req``."""
        raise NotImplementedError

    def on_scheduled(self, req: Request, num_new_tokens: int, step_time_s: float) -> None:
        """Called once per step for each request that got tokens; may update policy fields of ``req``."""

    def prepare(self, requests: Sequence[Request]) -> None:
        """Called once with the whole request set when a host knows it up front (offline runs)."""


def sort_key(policy: Policy, req: Request, seq: int) -> SortKey:
    """Promoted requests come first, oldest promotion first, then by rank; the rest by the policy's rank.

    Ordering promoted requests by promotion step before rank (the paper's fork used rank alone) is what bounds
    the wait: otherwise a low-ranked request, once promoted, can be overtaken again and again by later
    promotions. Requests promoted in the same step still go by rank, as in the fork.
    """
    if req.promoted:
        return (req.priority, 0, float(req.promoted_at_step), policy.rank(req), seq)
    return unpromoted_key(policy, req, seq)


def unpromoted_key(policy: Policy, req: Request, seq: int) -> SortKey:
    """The key ``req`` has when not promoted: priority, then the policy's rank, then arrival."""
    return (req.priority, 1, policy.rank(req), req.arrival_time, seq)


def should_displace(waiting: SortKey, running: SortKey, margin: float = 0.0) -> bool:
    """Does the waiting request deserve the running one's slot?

    Priority and promotion compare strictly; between equal ones the waiting request must beat the running
    one's rank value by more than ``margin`` (hysteresis), so that near-equal ranks do not thrash.
    """
    if waiting[:2] != running[:2]:
        return waiting[:2] < running[:2]
    if waiting[1] == 0:  # both promoted: the older promotion wins, no margin
        return waiting[2] < running[2]
    return waiting[2] + margin < running[2]


def pick_victim(running_best_first: Sequence[Request]) -> Request | None:
    """The request to preempt under KV pressure or for a better waiting one: the lowest-ranked."""
    return running_best_first[-1] if running_best_first else None
