"""What a scheduling engineer reads off a ranker, beside tau.

- ``oracle_gain_share``: a simulated burst of the split's own prompts (all at t = 0) under FCFS, LTR on the
  ranker's scores and the SRTF oracle; the share of the oracle's gain in mean per-token latency the scores keep,
  (fcfs - ltr) / (fcfs - oracle). Tau weighs every pair alike; per-token latency divides a wait by the output
  length, so errors among short answers cost most, and this number sees that.
- ``shortest_decile_recall``: of the true shortest 10%, the share found in the predicted shortest 10%.
- ``bucket_taus`` / ``long_mix_tau``: tau per prompt-length bucket and on a long-prompt mix of the split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ltrsched.predictor.metrics import LIST_SIZE, mean_list_tau

Lens = Sequence[int] | np.ndarray  # token counts, one per request
BURST_COST = "llama3-8b-a100"  # the simulator's cost preset: the paper's engine and model
BURST_POLICIES = ("fcfs", "ltr:starvation_threshold=0", "srtf-oracle")  # baseline, the ranker, the ceiling
MAX_OUTPUT_LEN = 8192  # replayed outputs are capped here (the paper's cap)
# Prompt-length buckets, tokens: [lo, hi) each; the four.
BUCKETS: tuple[tuple[str, int, int], ...] = (("<64", 0, 64), ("64-255", 64, 256), ("256-1023", 256, 1024),
                                             (">=1024", 1024, 1 << 62))
LONG_MIX_SEED = 0  # seed of the long-mix resampling


def mean_per_token_latency(prompt_lens: Lens, output_lens: Lens, scores: np.ndarray,
                           policy: str) -> float:
    """Mean per-token latency (s) of one burst under one policy spec, on the simulator's default engine.

    The one call into the simulator.
    """
    from ltrsched.policies import PolicyConfig
    from ltrsched.sim.cost import get_preset
    from ltrsched.sim.engine import EngineConfig
    from ltrsched.sim.run import simulate
    from ltrsched.sim.workload import WorkItem

    items = [WorkItem(id=f"q{i}", arrival_time=0.0, prompt_len=max(1, int(p)),
                      output_len=max(1, min(int(o), MAX_OUTPUT_LEN)))
             for i, (p, o) in enumerate(zip(prompt_lens, output_lens, strict=True))]
    result = simulate(PolicyConfig.parse(policy), items, np.asarray(scores, dtype=np.float64),
                      get_preset(BURST_COST), EngineConfig())
    return float(np.mean([r.per_token_latency_s for r in result.records]))


def oracle_gain_share(prompt_lens: Lens, output_lens: Lens, scores: np.ndarray) -> float:
    """(fcfs - ltr) / (fcfs - oracle) in mean per-token latency of a burst: 1 = the oracle, 0 = FCFS."""
    fcfs, ltr, oracle = (mean_per_token_latency(prompt_lens, output_lens, scores, p) for p in BURST_POLICIES)
    gap = fcfs - oracle
    return float((fcfs - ltr) / gap) if gap > 0 else float("nan")


def shortest_decile_recall(scores: np.ndarray, output_lens: Lens) -> float:
    """Share of the true shortest 10% (by output length) among the 10% with the highest scores.

    Ties in the true lengths at the cut are broken by position, so the figure is exact for any input.
    """
    lens = np.asarray(output_lens)
    k = max(1, len(lens) // 10)
    if len(lens) == 0:
        return float("nan")
    true_short = set(np.argsort(lens, kind="stable")[:k].tolist())
    pred_short = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]
    return len(true_short.intersection(pred_short.tolist())) / k


def bucket_of(prompt_lens: Lens) -> np.ndarray:
    """[n] bucket index (into ``BUCKETS``) of each prompt length."""
    edges = np.array([lo for _, lo, _ in BUCKETS[1:]])
    return np.searchsorted(edges, np.asarray(prompt_lens), side="right")


def bucket_taus(scores: np.ndarray, output_lens: Lens, prompt_lens: Lens,
                list_size: int = LIST_SIZE) -> dict[str, tuple[float, int]]:
    """{bucket: (mean tau over lists of ``list_size`` within the bucket, prompts in it)}, split order kept.

    A bucket with fewer prompts than one list gets nan.
    """
    s, lens, which = np.asarray(scores), np.asarray(output_lens), bucket_of(prompt_lens)
    out = {}
    for b, (name, _, _) in enumerate(BUCKETS):
        sel = which == b
        out[name] = (mean_list_tau(s[sel], lens[sel], list_size), int(sel.sum()))
    return out


def long_mix_index(prompt_lens: Lens, per_bucket: int = 0, seed: int = LONG_MIX_SEED) -> np.ndarray:
    """Indices of a long-prompt mix: the same number drawn (with replacement) from every non-empty bucket.

    ``per_bucket`` = 0 draws as many as the largest bucket holds. Four equal buckets put 50% of the mix at
    >= 256 tokens (vLLM's ShareGPT sampler, median 183 tokens, has ~40%; our first-turn test split ~15%).
    """
    which = bucket_of(prompt_lens)
    groups = [np.flatnonzero(which == b) for b in range(len(BUCKETS))]
    groups = [g for g in groups if len(g)]
    if not groups:
        return np.zeros(0, dtype=np.int64)
    n = per_bucket or max(len(g) for g in groups)
    rng = np.random.default_rng(seed)
    picks = np.concatenate([rng.choice(g, size=n, replace=True) for g in groups])
    return rng.permutation(picks)


def long_mix_tau(scores: np.ndarray, output_lens: Lens, prompt_lens: Lens,
                 list_size: int = LIST_SIZE) -> float:
    """Mean list tau on the long-prompt mix (``long_mix_index``): lists mix buckets, so offsets between
    short- and long-prompt scores count, as they do in a real queue."""
    idx = long_mix_index(prompt_lens)
    return mean_list_tau(np.asarray(scores)[idx], np.asarray(output_lens)[idx], list_size)
