"""Scheduling policies: one small module each, looked up by name.

``PolicyConfig`` (a policy with the core's starvation and hysteresis settings) is what the simulator, the vLLM
plugin and the benchmarks all build; ``make_policy("ltr", ...)`` builds the bare policy object.
"""

from __future__ import annotations

from typing import Any

# Importing the modules registers the policies.
from ltrsched.policies import approx_sjf, boost, classification, deadline, fcfs, first, ltr, mlfq, oracle, po, tie  # noqa: F401
from ltrsched.policies.base import Policy, SortKey, pick_victim, should_displace, sort_key
from ltrsched.policies.config import PolicyConfig
from ltrsched.policies.ranked import RankedRequests, StarvationConfig
from ltrsched.policies.registry import POLICIES


def make_policy(name: str, **params: Any) -> Policy:
    """Build a registered policy; unknown parameters are an error that names them."""
    cls = POLICIES.get(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for policy {name!r}: {exc}") from None


__all__ = [
    "POLICIES",
    "Policy",
    "PolicyConfig",
    "RankedRequests",
    "SortKey",
    "StarvationConfig",
    "make_policy",
    "pick_victim",
    "should_displace",
    "sort_key",
]
