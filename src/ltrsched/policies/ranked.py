"""Waiting and running requests kept in policy order, with the paper's starvation prevention.

Every host (the simulator's engine, the vLLM plugin) drives one ``RankedRequests`` the same way:

    ranked.begin_step()                       # starvation promotions
    for victim in ranked.victims(max_num_seqs): ...preempt it: ranked.preempt(victim)
    while (req := ranked.peek_waiting()) and <slot and KV free>: ranked.pop_waiting(); ranked.start_running(req)
    ...run the step...
    ranked.end_step(num_scheduled_tokens, step_time_s)

Nothing here re-sorts the waiting queue: it is a heap whose keys change only on promotion, so a step costs
O(changes · log n), not O(n log n). Running requests (at most ``max_num_seqs``) stay in a sorted list.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace

from ltrsched.policies.base import Policy, SortKey, should_displace, sort_key
from ltrsched.request import Request


@dataclass(slots=True)
class StarvationConfig:
    """Algorithm 1 of the paper; counts are scheduler steps, not seconds."""

    threshold: int = 200  # steps a request may sit queued and unscheduled before promotion; <= 0 turns it off
    quantum: int = 10  # scheduled steps a promotion lasts
    # May a promoted waiting request evict a running one? True is the paper's fork: in a burst every queued
    # request is promoted at once and they evict each other every ``quantum`` steps (each eviction is a
    # re-prefill under vLLM V1's recompute preemption: 0.44x FCFS in the simulated 2k burst). False (default):
    # promoted requests go first for the next free slot (and block rank-based evictions meanwhile), which
    # keeps the wait bounded without the churn (docs/results.md, "Starvation prevention without evictions").
    preempt: bool = False

    @property
    def enabled(self) -> bool:
        return self.threshold > 0 and self.quantum > 0


class RankedRequests:
    def __init__(
        self,
        policy: Policy,
        starvation: StarvationConfig | None = None,
        displace_margin: float = 0.0,
    ) -> None:
        self.policy = policy
        self.starvation = starvation if starvation is not None and starvation.enabled else None
        self.displace_margin = displace_margin  # rank units a waiting request must win by to evict (hysteresis)
        self.step = 0  # index of the step being scheduled
        self.num_promotions = 0  # starvation promotions so far (a report figure)
        self._seq = itertools.count()
        self._seq_of: dict[str, int] = {}  # request_id -> admission number (final tie-break)
        self._push_no = itertools.count()
        self._waiting: list[tuple[SortKey, int, Request]] = []  # heap (key, push number, req), stale entries too
        self._waiting_live: dict[str, int] = {}  # request_id -> push number of its live heap entry
        self._idle: list[tuple[int, int, Request]] = []  # heap (last_scheduled_step, seq, req) of waiting ones
        self._running: list[tuple[SortKey, Request]] = []  # sorted, best first
        self._running_key: dict[str, SortKey] = {}
        # Bumped whenever the running list changes (membership or order), so that a host can skip re-reading it.
        self.running_version = 0
        # Only MLFQ-like policies update requests as they run; skipping the no-op call saves ~0.1 ms at 256 running.
        self._calls_on_scheduled = type(policy).on_scheduled is not Policy.on_scheduled
        # Most steps schedule every running request and nothing about their keys changes; end_step then records
        # only the step (``_all_ran_step``) instead of touching 256 requests, and a running request's last
        # scheduled step is read through ``_last_scheduled`` (it ran at that step if it was running since before).
        self._all_ran_step = -1
        self._running_since: dict[str, int] = {}  # request_id -> step it (last) started running
        self._num_promoted_running = 0  # running entries whose key is a promoted one
        self._progress_checked = False  # has the first arrival shown that the rank ignores progress (or may read it)?

    # -- membership ---------------------------------------------------------------------------------
    def add(self, req: Request) -> None:
        """A new arrival joins the waiting queue; its starvation clock starts now."""
        if req.request_id in self._seq_of:
            raise ValueError(f"request {req.request_id!r} was already added")
        if not self._progress_checked:
            self._check_progress_declared(req)
        self._seq_of[req.request_id] = next(self._seq)
        req.last_scheduled_step = self.step
        self._push_waiting(req)

    def _check_progress_declared(self, req: Request) -> None:
        """Refuse a policy whose rank reads a request's progress without declaring ``dynamic_rank``.

        Hosts sync progress (``num_output_tokens``, ``num_computed_tokens``) and re-rank only for dynamic-rank
        policies, so an undeclared reader would rank by stale numbers. Checked once, on the first arrival.
        """
        self._progress_checked = True
        if self.policy.dynamic_rank:
            return
        moved = replace(req, num_output_tokens=req.num_output_tokens + 7,
                        num_computed_tokens=req.num_computed_tokens + 7)
        before, after = self.policy.rank(req), self.policy.rank(moved)
        if before != after and not (before != before and after != after):  # NaN == NaN here
            raise ValueError(f"policy {self.policy.name!r}: its rank changes with a request's progress "
                             "(num_output_tokens), so its class must set dynamic_rank = True")

    def key(self, req: Request) -> SortKey:
        return sort_key(self.policy, req, self._seq_of[req.request_id])

    def _push_waiting(self, req: Request) -> None:
        key = self.key(req)
        push_no = next(self._push_no)
        self._waiting_live[req.request_id] = push_no
        heapq.heappush(self._waiting, (key, push_no, req))
        if self.starvation is not None:
            heapq.heappush(self._idle, (req.last_scheduled_step, key.seq, req))

    def _clean_top(self) -> None:
        heap, live = self._waiting, self._waiting_live
        while heap and live.get(heap[0][2].request_id) != heap[0][1]:
            heapq.heappop(heap)

    def peek_waiting(self) -> Request | None:
        self._clean_top()
        return self._waiting[0][2] if self._waiting else None

    def pop_waiting(self) -> Request | None:
        self._clean_top()
        if not self._waiting:
            return None
        req = heapq.heappop(self._waiting)[2]
        del self._waiting_live[req.request_id]
        return req

    def start_running(self, req: Request) -> None:
        """``req`` (already popped from waiting) now holds a batch slot."""
        if req.request_id in self._waiting_live:  # admitted by a host that pops in its own way
            del self._waiting_live[req.request_id]
        key = self.key(req)
        self._running_key[req.request_id] = key
        self._running_since[req.request_id] = self.step
        self._num_promoted_running += 1 - key.unpromoted
        _insort(self._running, (key, req))
        self.running_version += 1

    def preempt(self, req: Request) -> None:
        """A running request goes back to the waiting queue (its KV is the host's business)."""
        self._remove_running(req)
        self._push_waiting(req)

    def finish(self, req: Request) -> None:
        """Forget a finished or aborted request, wherever it is."""
        if req.request_id in self._running_key:
            self._remove_running(req)
        self._waiting_live.pop(req.request_id, None)  # its heap entry goes stale

    def _remove_running(self, req: Request) -> None:
        req.last_scheduled_step = self._last_scheduled(req)  # the waiting side reads the field itself
        key = self._running_key.pop(req.request_id)
        del self._running_since[req.request_id]
        self._num_promoted_running -= 1 - key.unpromoted
        idx = _bisect(self._running, key)
        assert self._running[idx][1] is req, "running list out of order"
        del self._running[idx]
        self.running_version += 1

    def _last_scheduled(self, req: Request) -> int:
        """A running request's last scheduled step, counting the steps in which every running request ran."""
        since = self._running_since.get(req.request_id)
        if since is not None and since <= self._all_ran_step:
            return max(req.last_scheduled_step, self._all_ran_step)
        return req.last_scheduled_step

    # -- views ----------------------------------------------------------------------------------------
    @property
    def num_waiting(self) -> int:
        return len(self._waiting_live)

    @property
    def num_running(self) -> int:
        return len(self._running)

    def running(self) -> list[Request]:
        """Running requests, best first (the order in which they should get the token budget)."""
        return [req for _, req in self._running]

    def is_waiting(self, req: Request) -> bool:
        return req.request_id in self._waiting_live

    def is_running(self, req: Request) -> bool:
        return req.request_id in self._running_key

    def waiting_in_order(self) -> Iterator[Request]:
        """All waiting requests best first; O(n log n), for reports and small queues only."""
        live = self._waiting_live
        for _, push_no, req in sorted(self._waiting):
            if live.get(req.request_id) == push_no:
                yield req

    # -- per step -------------------------------------------------------------------------------------
    def begin_step(self) -> list[Request]:
        """Promote waiting requests that have sat ``threshold`` steps unscheduled; returns them."""
        if self.starvation is None:
            return []
        promoted: list[Request] = []
        deadline = self.step - self.starvation.threshold
        idle = self._idle
        while idle and idle[0][0] <= deadline:
            last, _, req = heapq.heappop(idle)
            if req.request_id not in self._waiting_live or req.last_scheduled_step != last:
                continue  # stale: scheduled or finished since
            self._promote(req)
            self._push_waiting(req)  # new key; the old heap entry goes stale
            promoted.append(req)
        return promoted

    def _promote(self, req: Request) -> None:
        assert self.starvation is not None
        if not (req.promoted and req.quantum_left == self.starvation.quantum):
            req.promoted_at_step = self.step  # a re-promotion before it ever ran keeps its place in line
        req.quantum_left = self.starvation.quantum
        req.last_scheduled_step = self.step  # the count restarts; a re-promotion renews the quantum
        self.num_promotions += 1

    def victims(self, max_num_seqs: int, can_run: Callable[[Request], bool] | None = None) -> list[Request]:
        """Running requests a host should preempt so that better waiting ones get a slot, worst first.

        Looks only, moves nothing: the host preempts each victim itself (``preempt``) or may ignore them; the
        waiting heap is restored as it was (stale entries at its top may be dropped, which changes no order).
        Free slots are filled first; after that each next-best waiting request evicts the worst remaining
        running one while ``should_displace`` says so. Only preemptive policies evict, and a promoted request
        evicts on its rank alone unless promotions may evict (``StarvationConfig.preempt``). A waiting request
        for which ``can_run`` is False (the host cannot schedule it yet: vLLM's deferred requests) neither takes
        a free slot nor evicts anyone; evicting for it would only waste the victim's work (vLLM issue #53130).
        """
        if not self.policy.preemptive:
            return []
        free = max_num_seqs - len(self._running)
        promotion_preempts = self.starvation is None or self.starvation.preempt
        victims: list[Request] = []
        popped: list[tuple[SortKey, int, Request]] = []
        worst = len(self._running) - 1
        while True:
            self._clean_top()
            if not self._waiting:
                break
            entry = heapq.heappop(self._waiting)
            popped.append(entry)
            if can_run is not None and not can_run(entry[2]):
                continue
            if free > 0:
                free -= 1
                continue
            key = entry[0]
            if not key.unpromoted and not promotion_preempts:  # first in line for a free slot, but evicts on rank alone
                key = key.as_unpromoted()
            if worst < 0 or not should_displace(key, self._running[worst][0], self.displace_margin):
                break
            victims.append(self._running[worst][1])
            worst -= 1
        for entry in popped:
            heapq.heappush(self._waiting, entry)
        return victims

    def end_step(self, num_scheduled_tokens: Mapping[str, int], step_time_s: float = 0.0) -> None:
        """Account a finished step: ``num_scheduled_tokens`` maps request_id -> tokens it got this step."""
        if self._no_key_can_change(num_scheduled_tokens):
            self._all_ran_step = self.step
        elif self._account_running(num_scheduled_tokens, step_time_s):
            self._running.sort(key=_entry_key)
            self.running_version += 1
        self.step += 1

    def _no_key_can_change(self, num_scheduled_tokens: Mapping[str, int]) -> bool:
        """The common step: every running request got tokens, and none of their keys can change.

        Then nothing is written per request: the step is recorded once (``_all_ran_step``) and a running
        request's last scheduled step is read through ``_last_scheduled``. The membership test is a C-level
        comparison of dict views, so the step costs O(1) Python work at 256 running.
        """
        return (not self.policy.dynamic_rank and not self._calls_on_scheduled and not self._num_promoted_running
                and num_scheduled_tokens.keys() >= self._running_key.keys())

    def _account_running(self, num_scheduled_tokens: Mapping[str, int], step_time_s: float) -> bool:
        """Per running request: its starvation clock, the policy's hook, its quantum and, where it can have
        changed, its key; a request left out of the batch too long is promoted. Returns whether a key changed."""
        step, get, starv = self.step, num_scheduled_tokens.get, self.starvation
        rekey = self.policy.dynamic_rank
        on_scheduled = self.policy.on_scheduled if self._calls_on_scheduled else None
        changed = False
        for i, (key, req) in enumerate(self._running):
            num_new = get(req.request_id, 0)
            if num_new > 0:
                req.last_scheduled_step = step
                if on_scheduled is not None:
                    on_scheduled(req, num_new, step_time_s)
                if req.quantum_left > 0:
                    req.quantum_left -= 1
                    if rekey or req.quantum_left == 0:  # the promotion may just have ended
                        changed |= self._rekey_running(i, key, req)
                elif rekey:
                    changed |= self._rekey_running(i, key, req)
            elif starv is not None and step - self._last_scheduled(req) >= starv.threshold:
                self._promote(req)  # running but left out of the batch (token budget) for too long
                changed |= self._rekey_running(i, key, req)
        return changed

    def _rekey_running(self, index: int, key: SortKey, req: Request) -> bool:
        """Recompute the key of the running entry at ``index``; returns whether it changed (list not re-sorted)."""
        new_key = self.key(req)
        if new_key == key:
            return False
        self._running[index] = (new_key, req)
        self._running_key[req.request_id] = new_key
        self._num_promoted_running += key.unpromoted - new_key.unpromoted
        return True


def _entry_key(entry: tuple[SortKey, Request]) -> SortKey:
    return entry[0]


def _bisect(entries: list[tuple[SortKey, Request]], key: SortKey) -> int:
    lo, hi = 0, len(entries)
    while lo < hi:
        mid = (lo + hi) // 2
        if entries[mid][0] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _insort(entries: list[tuple[SortKey, Request]], entry: tuple[SortKey, Request]) -> None:
    entries.insert(_bisect(entries, entry[0]), entry)
