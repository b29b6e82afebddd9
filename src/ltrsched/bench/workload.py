"""Real-engine workloads: ShareGPT first-turn prompts with replayed output lengths, in a burst or Poisson arrivals.

Replaying the recorded ChatGPT length (``ignore_eos``, ``max_tokens`` = that length) makes every policy do exactly the
same work, so policies differ only in order; the ranker still sees only the prompt text. ``natural`` lengths let
the served model stop by itself instead (sampled as a deployment would, one seed per request, so every policy
gets the same answers): what a ranker trained on ChatGPT's lengths meets when it serves another model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ltrsched.errors import UserError
from ltrsched.predictor.prompts import as_messages

WORKLOADS = ("burst", "poisson", "synthetic")
LENGTHS = ("replay", "natural")


@dataclass(slots=True, frozen=True)
class Sampling:
    """How a request is decoded; the default replays: greedy, EOS ignored, ``max_tokens`` = the recorded length."""

    temperature: float = 0.0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    ignore_eos: bool = True  # False: the model stops by itself (at EOS) or at the cap
    seed: int | None = None  # per-request sampling seed (natural lengths: the same answer under every policy)


NATURAL = Sampling(temperature=0.7, top_p=0.9, repetition_penalty=1.1, ignore_eos=False)  # a typical chat setting
NATURAL_MAX_TOKENS = 768  # the natural-length cap (``bench serve --lengths natural``, ``label --natural``)


@dataclass(slots=True)
class BenchRequest:
    request_id: str
    messages: list[dict[str, str]]  # chat messages ending with the user turn
    output_len: int  # tokens to generate (replayed: the recorded length, capped); natural: the cap
    arrival_s: float = 0.0  # s after the start of the run
    sampling: Sampling = field(default_factory=Sampling)  # replayed unless ``natural`` made it otherwise
    label_len: int | None = None  # natural: the length an earlier run of the same prompt and seed produced

    def true_len(self) -> int:
        """What an oracle is told: the replayed length, or for natural lengths the earlier run's (its label)."""
        return self.label_len if self.label_len is not None else self.output_len


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


def natural(requests: list[BenchRequest], max_tokens: int = NATURAL_MAX_TOKENS, seed: int = 0) -> list[BenchRequest]:
    """The served model's own lengths: sampled at ``NATURAL`` settings up to ``max_tokens``, request i with seed
    ``seed * 1_000_003 + i`` (reproducible, and the same under every policy)."""
    if max_tokens < 1:
        raise UserError(f"--natural-max-tokens must be >= 1; got {max_tokens}")
    return [replace(r, output_len=max_tokens, sampling=replace(NATURAL, seed=seed * 1_000_003 + i))
            for i, r in enumerate(requests)]


def with_labels(requests: list[BenchRequest], lengths: dict[str, int]) -> list[BenchRequest]:
    """Natural-length requests labelled with the lengths an earlier run produced (for the oracle)."""
    return [replace(r, label_len=lengths[r.request_id]) if r.request_id in lengths else r for r in requests]


def sampling_fields(req: BenchRequest) -> dict[str, Any]:
    """The request's sampling parameters, named as vLLM's ``SamplingParams`` and its OpenAI API both take them."""
    s = req.sampling
    out: dict[str, Any] = {"temperature": s.temperature, "top_p": s.top_p, "repetition_penalty": s.repetition_penalty,
                           "max_tokens": req.output_len, "ignore_eos": s.ignore_eos}
    if s.seed is not None:
        out["seed"] = s.seed
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
