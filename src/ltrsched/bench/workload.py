"""Real-engine workloads: ShareGPT first-turn prompts with replayed output lengths, in a burst or Poisson arrivals.

Replaying the recorded ChatGPT length (``ignore_eos``, ``max_tokens`` = that length) makes every policy do exactly the
same work, so policies differ only in order; the ranker still sees only the prompt text.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ltrsched.errors import UserError
from ltrsched.predictor.prompts import as_messages

WORKLOADS = ("burst", "poisson", "synthetic")


@dataclass(slots=True)
class BenchRequest:
    request_id: str
    messages: list[dict[str, str]]  # chat messages ending with the user turn
    output_len: int  # tokens to generate (replayed: the recorded length, capped)
    arrival_s: float = 0.0  # s after the start of the run


def load_prompts(num: int, max_output_len: int = 512, max_prompt_len: int = 1024, split: str = "test",
                 seed: int = 0) -> list[BenchRequest]:
    """``num`` ShareGPT first turns (a fixed sample); Llama-3 token lengths, outputs capped at max_output_len."""
    from ltrsched.predictor.data import load_sharegpt

    pool = [e for e in load_sharegpt(split=split, turns="first") if 0 < e.prompt_len <= max_prompt_len]
    if len(pool) < num:
        raise UserError(f"only {len(pool)} ShareGPT {split} prompts have <= {max_prompt_len} tokens; "
                        f"ask for fewer (--num-requests) or raise --max-prompt-len")
    picks = np.random.default_rng(seed).permutation(len(pool))[:num]
    out = []
    for i, idx in enumerate(sorted(picks.tolist())):
        ex = pool[idx]
        out.append(BenchRequest(request_id=f"r{i:05d}-{ex.id}", messages=as_messages(ex.prompt),
                                output_len=max(1, min(ex.output_len, max_output_len))))
    return out


def burst(requests: list[BenchRequest]) -> list[BenchRequest]:
    """Everything arrives at t = 0 (the paper's burst and synthetic-data settings)."""
    return [replace(r, arrival_s=0.0) for r in requests]


def poisson(requests: list[BenchRequest], rate: float, seed: int = 0, cv: float = 1.0) -> list[BenchRequest]:
    """Arrivals at ``rate`` req/s (``ltrsched.arrivals``: the simulator's generator, so one seed, one timeline)."""
    from ltrsched.arrivals import arrival_times

    times = arrival_times(len(requests), rate, cv, seed)
    return [replace(r, arrival_s=float(t)) for r, t in zip(requests, times, strict=True)]


def total_tokens(requests: list[BenchRequest]) -> int:
    return sum(r.output_len for r in requests)
