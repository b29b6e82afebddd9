"""``victims`` evicts only for waiting requests the host can actually run next."""

from __future__ import annotations

from ltrsched.policies import PolicyConfig
from ltrsched.request import Request


def test_a_request_the_host_cannot_run_yet_neither_takes_a_slot_nor_evicts() -> None:
    ranked = PolicyConfig.parse("ltr:starvation_threshold=0").build()
    long = Request("long", 0.0, 10, 500, score=-5.0)
    ranked.add(long)
    ranked.start_running(ranked.pop_waiting() or long)
    deferred = Request("deferred", 1.0, 10, 5, score=9.0)  # the best rank, but waiting for a grammar
    short = Request("short", 2.0, 10, 5, score=1.0)
    ranked.add(deferred)
    ranked.add(short)
    assert [r.request_id for r in ranked.victims(1)] == ["long"]  # without the host's answer: evict for it
    blocked = {"deferred"}
    assert [r.request_id for r in ranked.victims(1, lambda r: r.request_id not in blocked)] == ["long"]  # short
    blocked.add("short")
    assert ranked.victims(1, lambda r: r.request_id not in blocked) == []  # nothing runnable beats it
    assert ranked.victims(2, lambda r: r.request_id not in blocked) == []  # and no free slot is claimed
    assert ranked.num_waiting == 2 and ranked.peek_waiting() is deferred  # looked, moved nothing
