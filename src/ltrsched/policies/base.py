"""What a policy is, what it needs from its host, and the pure helpers every host uses to preempt by it.

A policy maps a request to one float, its *rank value* (smaller is served first). The full sort key adds,
in front, the user's priority and the starvation promotion, and behind, arrival time and an admission number,
so that no two keys tie and the order is total and reproducible.

Everything a host must know about a policy is a class variable of its class (``reads_score``,
``reads_quantiles``, ``needs_true_length``, ``dynamic_rank``, ``preemptive``, ``starvation_threshold``): hosts read
these and never list policy names of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

from ltrsched.request import Request


class SortKey(NamedTuple):
    """A request's place in line; tuples compare field by field, so the first differing field decides.

    One layout for every request: an unpromoted one has ``unpromoted`` 1 and ``promoted_at`` 0.0.
    """

    priority: int  # the user's priority: lower first, ahead of everything else (vLLM's convention)
    unpromoted: int  # 0 while promoted by starvation prevention, else 1: promoted requests go first
    promoted_at: float  # step of the promotion in force (oldest promotion first); 0.0 when not promoted
    rank: float  # the policy's rank value (smaller first)
    arrival_time: float  # s, on the host's clock: ties in rank go by arrival
    seq: int  # admission number in its RankedRequests: the final tie-break

    @property
    def promoted(self) -> bool:
        return self.unpromoted == 0

    def as_unpromoted(self) -> SortKey:
        """The key this request has when not promoted (same rank and arrival)."""
        return _new_key(SortKey, (self.priority, 1, 0.0, self.rank, self.arrival_time, self.seq))


_new_key = tuple.__new__  # builds a SortKey without NamedTuple's Python-level __new__ (keys are built per step)


@dataclass(slots=True)
class Policy:
    """Base class: subclasses set ``name`` and implement ``rank``; class variables declare what they need."""

    name: ClassVar[str] = ""
    # May a better waiting request evict a running one (at max_num_seqs)? Non-preemptive policies
    # still order the waiting queue and pick KV-pressure victims by rank.
    preemptive: ClassVar[bool] = True
    # Does a running request's rank change as it runs (its progress ``num_output_tokens``, MLFQ level)? Hosts
    # then keep progress in sync and re-rank scheduled requests after every step; otherwise a rank is computed
    # once per queue entry. ``RankedRequests`` refuses a policy whose rank reads progress without declaring it.
    dynamic_rank: ClassVar[bool] = False
    # Needs the true output length (oracle policies); hosts that lack it must refuse the policy or say what
    # stands in for it (the vLLM plugin: the request's max_tokens).
    needs_true_length: ClassVar[bool] = False
    # Does ``rank`` read ``Request.score``? Hosts then score requests (the plugin runs its ranker at arrival).
    reads_score: ClassVar[bool] = False
    # Does ``rank`` read ``Request.length_quantiles`` (p10, p50, p90 output tokens)? Hosts then map each score
    # to quantiles with the ranker's calibrated map (``ltrsched.predictor.quantiles``) at arrival.
    reads_quantiles: ClassVar[bool] = False
    # Starvation prevention by default (scheduler steps before promotion; 0 = off). Every host uses this value
    # unless its config names another: on for the paper's ranking policy only.
    starvation_threshold: ClassVar[int] = 0

    def rank(self, req: Request) -> float:
        """Smaller is served first. Pure: must not write to ``req``."""
        raise NotImplementedError

    def on_scheduled(self, req: Request, num_new_tokens: int, step_time_s: float) -> None:
        """Called once per step for each request that got tokens; may update policy fields of ``req``."""

    def prepare(self, requests: Sequence[Request]) -> None:
        """Called once with the whole request set when a host knows it up front (offline runs)."""

    def extra_output_tokens(self) -> int:
        """Tokens a host that replays lengths adds to every output (PO's stated length); 0 for most policies."""
        return 0


def sort_key(policy: Policy, req: Request, seq: int) -> SortKey:
    """Promoted requests come first, oldest promotion first, then by rank; the rest by the policy's rank.

    Ordering promoted requests by promotion step before rank (the paper's fork used rank alone) is what bounds
    the wait: otherwise a low-ranked request, once promoted, can be overtaken again and again by later
    promotions. Requests promoted in the same step still go by rank, as in the fork.
    """
    if req.quantum_left > 0:
        return _new_key(SortKey, (req.priority, 0, float(req.promoted_at_step), policy.rank(req), req.arrival_time,
                                  seq))
    return _new_key(SortKey, (req.priority, 1, 0.0, policy.rank(req), req.arrival_time, seq))


def should_displace(waiting: SortKey, running: SortKey, margin: float = 0.0) -> bool:
    """Does the waiting request deserve the running one's slot?

    Priority and promotion compare strictly; between two promoted requests the older promotion wins; between
    two unpromoted ones the waiting request must beat the running one's rank value by more than ``margin``
    (hysteresis), so that near-equal ranks do not thrash.
    """
    if (waiting.priority, waiting.unpromoted) != (running.priority, running.unpromoted):
        return (waiting.priority, waiting.unpromoted) < (running.priority, running.unpromoted)
    if not waiting.unpromoted:  # both promoted (fields, not the property: this runs per candidate per step)
        return waiting.promoted_at < running.promoted_at
    return waiting.rank + margin < running.rank


def pick_victim(running_best_first: Sequence[Request]) -> Request | None:
    """The request to preempt under KV pressure or for a better waiting one: the lowest-ranked."""
    return running_best_first[-1] if running_best_first else None
