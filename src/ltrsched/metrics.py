"""Per-request records and the paper's serving metrics, shared by the simulator and the real-engine benchmarks.

One ``RequestRecord`` per finished request, on any clock (simulated or wall); ``summarize`` turns a list of
them into plain-named figures (``mean_per_token_latency``, ``p99_per_token_latency``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    arrival_time: float  # s: when the request was sent / enqueued
    first_token_time: float  # s: when its first output token was produced
    finish_time: float  # s: when its last output token was produced
    num_prompt_tokens: int
    num_output_tokens: int
    max_itl_s: float = 0.0  # s: longest gap between two consecutive output tokens
    num_preemptions: int = 0

    @property
    def latency_s(self) -> float:
        return self.finish_time - self.arrival_time

    @property
    def per_token_latency_s(self) -> float:
        """The paper's main metric: request latency divided by its output tokens (s/token)."""
        return self.latency_s / max(self.num_output_tokens, 1)

    @property
    def ttft_s(self) -> float:
        return self.first_token_time - self.arrival_time

    @property
    def tpot_s(self) -> float:
        """Time per output token after the first."""
        if self.num_output_tokens <= 1:
            return 0.0
        return (self.finish_time - self.first_token_time) / (self.num_output_tokens - 1)

    @property
    def max_waiting_time_s(self) -> float:
        """The paper's fairness metric (Eq. 3): max(TTFT, longest inter-token gap)."""
        return max(self.ttft_s, self.max_itl_s)


def _percentiles(prefix: str, values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {f"{k}_{prefix}": float("nan") for k in ("mean", "median", "p90", "p99")}
    return {
        f"mean_{prefix}": float(values.mean()),
        f"median_{prefix}": float(np.median(values)),
        f"p90_{prefix}": float(np.percentile(values, 90)),
        f"p99_{prefix}": float(np.percentile(values, 99)),
    }


def summarize(records: Sequence[RequestRecord], start_time: float | None = None) -> dict[str, float]:
    """Aggregate figures over finished requests; times in s, throughput over the makespan."""
    arr = {
        "ptl": np.array([r.per_token_latency_s for r in records]),
        "lat": np.array([r.latency_s for r in records]),
        "ttft": np.array([r.ttft_s for r in records]),
        "tpot": np.array([r.tpot_s for r in records]),
        "mwt": np.array([r.max_waiting_time_s for r in records]),
    }
    out: dict[str, float] = {"num_finished": float(len(records))}
    out |= _percentiles("per_token_latency", arr["ptl"])
    out |= _percentiles("latency", arr["lat"])
    out |= _percentiles("ttft", arr["ttft"])
    out |= _percentiles("tpot", arr["tpot"])
    out |= _percentiles("max_waiting_time", arr["mwt"])
    out["max_max_waiting_time"] = float(arr["mwt"].max()) if len(records) else float("nan")
    if records:
        t0 = min(r.arrival_time for r in records) if start_time is None else start_time
        makespan = max(r.finish_time for r in records) - t0
        tokens = sum(r.num_output_tokens for r in records)
        out["makespan_s"] = float(makespan)
        out["throughput_tokens_per_s"] = float(tokens / makespan) if makespan > 0 else float("nan")
        out["throughput_requests_per_s"] = float(len(records) / makespan) if makespan > 0 else float("nan")
        out["num_preemptions"] = float(sum(r.num_preemptions for r in records))
    return out


def synthetic_figures(records: Sequence[RequestRecord], k: int = 0, limit_s: float = 0.0,
                      start_time: float = 0.0) -> dict[str, float]:
    """The synthetic-data figures both hosts report, under one name each: ``time_to_k_finished_s`` (when ``k``
    is set) and ``finished_within_limit`` (when ``limit_s`` is); the run's config records k and the limit."""
    out: dict[str, float] = {}
    if k:
        out["time_to_k_finished_s"] = time_to_k_finished(records, k, start_time)
    if limit_s:
        out["finished_within_limit"] = float(finished_within(records, limit_s, start_time))
    return out


def time_to_k_finished(records: Sequence[RequestRecord], k: int, start_time: float = 0.0) -> float:
    """Synthetic-data metric: seconds until ``k`` requests have finished (inf if fewer did)."""
    finishes = sorted(r.finish_time for r in records)
    return finishes[k - 1] - start_time if len(finishes) >= k else float("inf")


def finished_within(records: Sequence[RequestRecord], limit_s: float, start_time: float = 0.0) -> int:
    """Synthetic-data metric: how many requests finished within ``limit_s`` of the start."""
    return sum(1 for r in records if r.finish_time - start_time <= limit_s)
