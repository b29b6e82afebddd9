"""Step-time model: a step costs ``base + prefill tokens + decode sequences + KV tokens read``, each with a coefficient.

Presets are calibrated to the paper's setups (Llama-3 on A100, 768-token chunks): the token coefficient and the
base are a least-squares line through Vidur's A100 profile of the non-attention ops (batches of 1..768 tokens, the
paper's chunk budget); attention is KV bytes read over the A100's memory bandwidth; a decode sequence adds the
per-sequence overhead DistServe fitted on A100 (0.05 ms); swap moves KV over PCIe. ``fit`` fits the same four
coefficients to a measured step log (``ltrsched.steplog``), so the simulator can be tied to a real engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ltrsched.errors import UserError
from ltrsched.steplog import StepRecord

A100_BANDWIDTH = 1.3e12  # bytes/s of HBM bandwidth attention achieves (1.55 TB/s peak on A100-40G)
PCIE_BANDWIDTH = 20e9  # bytes/s of effective host<->GPU copy bandwidth (PCIe 4.0 x16)


@dataclass(slots=True, frozen=True)
class CostModel:
    base_s: float  # s per step whatever runs (weights read once, launch overheads)
    prefill_s_per_token: float  # s per prompt (or recompute) token computed
    decode_s_per_seq: float  # s per decoding sequence (its one token through the linear layers, sampling)
    kv_s_per_token: float  # s per token of KV read by attention (summed over scheduled requests)
    swap_s_per_token: float = 0.0  # s per token of KV moved to or from host memory (swap preemption)
    kv_capacity_tokens: int = 0  # tokens of KV the GPU(s) hold (0: the engine's own setting decides)
    name: str = "custom"  # preset name, or where the coefficients came from

    def step_time(self, num_prefill_tokens: int, num_decode_seqs: int, num_kv_tokens: int) -> float:
        """Seconds for one step; ``num_kv_tokens`` = tokens already in KV for the scheduled requests."""
        return (self.base_s + self.prefill_s_per_token * num_prefill_tokens
                + self.decode_s_per_seq * num_decode_seqs + self.kv_s_per_token * num_kv_tokens)

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


# Vidur's A100 medians of the non-attention ops over all layers (ms) by tokens in the batch [paper.md §8].
VIDUR_ANCHORS_MS: dict[str, dict[int, float]] = {
    "llama3-8b-a100": {1: 9.7, 128: 13.2, 256: 19.5, 512: 34.6, 768: 52.9},
    "llama3-70b-a100-tp8": {1: 14.3, 128: 18.9, 256: 30.6, 512: 52.1, 768: 67.3},
}
# KV bytes per token per GPU: 2 (K, V) x layers x 8 KV heads x 128 dims x 2 bytes, split over TP ranks.
_KV_BYTES = {"llama3-8b-a100": 2 * 32 * 8 * 128 * 2, "llama3-70b-a100-tp8": 2 * 80 * 8 * 128 * 2 // 8}
# KV memory per GPU: 0.9 x 40 GB - weights (16.1 GB; 141 GB / 8) - ~1.5 GB activations.
_KV_MEMORY = {"llama3-8b-a100": 0.9 * 40e9 - 16.1e9 - 1.5e9, "llama3-70b-a100-tp8": 0.9 * 40e9 - 17.6e9 - 1.5e9}
DECODE_SEQ_OVERHEAD_S = 0.05e-3  # s per decoding request beyond its token (DistServe's A100 fit, paper.md §8)


def _line_fit(anchors: dict[int, float]) -> tuple[float, float]:
    """(base_s, s_per_token) of the least-squares line through (tokens, ms) anchors."""
    x = np.array(list(anchors), dtype=float)
    y = np.array(list(anchors.values())) * 1e-3
    slope, intercept = np.polyfit(x, y, 1)
    return float(intercept), float(slope)


def _preset(name: str) -> CostModel:
    base, per_token = _line_fit(VIDUR_ANCHORS_MS[name])
    kv_bytes = _KV_BYTES[name]
    return CostModel(base_s=base, prefill_s_per_token=per_token, decode_s_per_seq=per_token + DECODE_SEQ_OVERHEAD_S,
                     kv_s_per_token=kv_bytes / A100_BANDWIDTH, swap_s_per_token=kv_bytes / PCIE_BANDWIDTH,
                     kv_capacity_tokens=int(_KV_MEMORY[name] // kv_bytes), name=name)


PRESETS: dict[str, CostModel] = {name: _preset(name) for name in VIDUR_ANCHORS_MS}


def get_preset(name: str) -> CostModel:
    if name not in PRESETS:
        raise UserError(f"unknown cost preset {name!r}; known: {', '.join(PRESETS)} (or fit one: ltrsched fit-cost)")
    return PRESETS[name]


def calibration_residuals(name: str) -> list[dict[str, float]]:
    """Per Vidur anchor: tokens, the profile's ms, the model's ms (no KV read), and the relative error."""
    model = get_preset(name)
    rows = []
    for tokens, ms in VIDUR_ANCHORS_MS[name].items():
        pred = (model.base_s + model.prefill_s_per_token * tokens) * 1e3
        rows.append({"tokens": float(tokens), "anchor_ms": ms, "model_ms": pred, "rel_error": pred / ms - 1.0})
    return rows


def fit(records: Iterable[StepRecord], name: str = "fitted") -> tuple[CostModel, dict[str, float]]:
    """Non-negative least squares of ``duration_s`` on the four step features; returns the model and its residuals.

    Steps with ``duration_s <= 0`` (the log's last, unclosed step) are skipped.
    """
    from scipy.optimize import nnls

    rows = [r for r in records if r.duration_s > 0 and r.num_scheduled_seqs > 0]
    if len(rows) < 8:
        raise UserError(f"a cost fit needs at least 8 steps with work and a duration; the log has {len(rows)}")
    x = np.array([[1.0, r.num_prefill_tokens, r.num_decode_tokens, r.num_kv_tokens] for r in rows])
    y = step_times(rows)
    scale = x.max(axis=0)
    scale[scale == 0] = 1.0
    coef, _ = nnls(x / scale, y)
    coef = coef / scale
    model = CostModel(base_s=float(coef[0]), prefill_s_per_token=float(coef[1]), decode_s_per_seq=float(coef[2]),
                      kv_s_per_token=float(coef[3]), name=name)
    pred = x @ coef
    return model, residual_stats(y, pred)


def step_times(rows: Sequence[StepRecord]) -> np.ndarray:
    """Each step's time: to the next schedule(), except where the engine then sat idle (waiting for arrivals,
    or shutting down after the last step): there, its busy time plus the usual gap between steps (the host's
    per-step work outside the scheduler, e.g. detokenizing)."""
    y = np.array([r.duration_s for r in rows], dtype=float)
    busy = np.array([r.busy_s for r in rows], dtype=float)
    known = (busy > 0) & (busy <= y)
    if not known.any():
        return y  # an older log without busy times
    gap = float(np.median(y[known] - busy[known]))
    idle = known & (y > busy + 5.0 * gap + 1e-3)
    y[idle] = busy[idle] + gap
    return y


def residual_stats(measured: Sequence[float] | np.ndarray, predicted: Sequence[float] | np.ndarray) -> dict[str, float]:
    m, p = np.asarray(measured, dtype=float), np.asarray(predicted, dtype=float)
    ss_res = float(((m - p) ** 2).sum())
    ss_tot = float(((m - m.mean()) ** 2).sum())
    return {
        "num_steps": float(m.size),
        "rmse_s": float(np.sqrt(ss_res / m.size)),
        "mean_abs_rel_error": float(np.mean(np.abs(p - m) / np.maximum(m, 1e-12))),
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
        "total_rel_error": float(p.sum() / m.sum() - 1.0),
    }
