"""vLLM's waiting queue, backed by the shared policy core: ``pop_request`` returns the best-ranked waiting request.

vLLM's own ``PriorityRequestQueue`` would need a full re-heapify whenever ranks change; here the order lives in one
``RankedRequests`` (a heap with lazy deletion), so a step costs O(changes · log n) even with thousands waiting.
Each vLLM request has one mirror ``ltrsched.request.Request`` (same id). A popped request counts as running for
the core until vLLM puts it back (``prepend_request``: preempted or skipped this step).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from vllm.v1.core.sched.request_queue import RequestQueue

from ltrsched.policies import RankedRequests
from ltrsched.request import Request


class RankedQueue(RequestQueue):
    def __init__(self, ranked: RankedRequests, flush: Callable[[], None]) -> None:
        self.ranked = ranked
        self.entries: dict[str, tuple[Any, Request]] = {}  # request_id -> (vLLM request, mirror)
        self.pending: list[Any] = []  # vLLM requests that arrived since the last flush (not yet scored)
        self._flush = flush  # the scheduler's: scores ``pending`` and calls ``admit`` for each

    # -- what the scheduler calls -----------------------------------------------------------------------
    def admit(self, vreq: Any, mirror: Request) -> None:
        """A scored arrival joins the ranked waiting queue."""
        self.entries[vreq.request_id] = (vreq, mirror)
        self.ranked.add(mirror)

    def take_pending(self) -> list[Any]:
        pending, self.pending = self.pending, []
        return pending

    def vllm_request(self, request_id: str) -> Any:
        return self.entries[request_id][0]

    def sync_progress(self, request_ids: Iterable[str]) -> None:
        """Copy vLLM's progress into the mirrors of these requests (for policies whose rank reads it)."""
        entries = self.entries
        for rid in request_ids:
            entry = entries.get(rid)
            if entry is not None:
                entry[1].num_output_tokens = entry[0].num_output_tokens

    def forget(self, request_id: str) -> None:
        """A finished or aborted request leaves the core."""
        entry = self.entries.pop(request_id, None)
        if entry is not None:
            self.ranked.finish(entry[1])
            return
        self.pending = [r for r in self.pending if r.request_id != request_id]

    # -- RequestQueue -----------------------------------------------------------------------------------
    def add_request(self, request: Any) -> None:
        entry = self.entries.get(request.request_id)
        if entry is None:
            self.pending.append(request)
            return
        mirror = entry[1]
        if self.ranked.is_running(mirror):
            self.ranked.preempt(mirror)
        elif not self.ranked.is_waiting(mirror):  # not expected: popped without being marked running
            self.ranked.start_running(mirror)
            self.ranked.preempt(mirror)

    def _top(self) -> Request:
        if self.pending:
            self._flush()
        mirror = self.ranked.peek_waiting()
        if mirror is None:
            raise IndexError("pop from an empty queue")
        return mirror

    def pop_request(self) -> Any:
        mirror = self._top()
        self.ranked.pop_waiting()
        self.ranked.start_running(mirror)
        return self.entries[mirror.request_id][0]

    def peek_request(self) -> Any:
        return self.entries[self._top().request_id][0]

    def prepend_request(self, request: Any) -> None:
        self.add_request(request)

    def prepend_requests(self, requests: Iterable[Any]) -> None:
        for request in requests:
            self.add_request(request)

    def remove_request(self, request: Any) -> None:
        self.forget(request.request_id)

    def remove_requests(self, requests: Iterable[Any]) -> None:
        for request in requests:
            self.forget(request.request_id)

    def __bool__(self) -> bool:
        return bool(self.pending) or self.ranked.num_waiting > 0

    def __len__(self) -> int:
        return len(self.pending) + self.ranked.num_waiting

    def __iter__(self) -> Iterator[Any]:
        """Unscored arrivals first, then the ranked queue best first (O(n log n): for inspection only)."""
        yield from list(self.pending)
        for mirror in self.ranked.waiting_in_order():
            yield self.entries[mirror.request_id][0]
