"""Factories shared by every test module."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ltrsched.request import Request


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
