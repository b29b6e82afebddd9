"""Training losses, by name: ``listmle`` (default, the paper's), ``pairwise``, ``pairwise-sched`` (scheduling
cost weighted), ``classification[-G]``, ``regression``.

Every loss takes the model's raw output for one list, ``out: [n, out_dim]``, and the true lengths ``lens: [n]``
(tokens), and returns a scalar. ``LossSpec.score`` turns the raw output into one score per prompt with higher =
shorter expected output, whatever the loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ltrsched.predictor.labels import MAX_LEN, length_label, num_classes
from ltrsched.registry import Registry

LISTMLE_GROUP = 10  # the paper's --label-group-size
PAIR_DELTA = 2  # pairwise: ignore pairs whose labels differ by fewer buckets (PARS's delta filter; 20 tokens)
PAIR_MARGIN = 1.0  # pairwise: wanted score gap for a correctly ordered pair
SCHED_MIN_LEN = 10  # pairwise-sched: shorter outputs weigh as this many tokens (2 vs 5 tokens is sampling noise)


@dataclass(slots=True, frozen=True)
class LossSpec:
    """A loss and how to read scores from the head it trains."""

    name: str  # registry key, CLI value
    out_dim: int  # head outputs per prompt
    fn: Callable[[Any, Any], Any]  # (out [n, out_dim], lens [n]) -> scalar tensor
    group: int = 0  # bucket size for classification (accuracy is reported), 0 otherwise

    def score(self, out: Any) -> Any:
        """[n, out_dim] -> [n] scores, higher = shorter: the logit, -log length, or the argmax class."""
        if self.group:
            return out.argmax(dim=-1).float()
        if self.name == "regression":
            return -out[:, 0]
        return out[:, 0]


LOSSES: Registry[LossSpec] = Registry("loss")


def _add(spec: LossSpec) -> None:
    LOSSES.register(spec.name)(spec)


def listmle(scores: Any, labels: Any, generator: Any = None, eps: float = 1e-10) -> Any:
    """ListMLE (allRank): -log Plackett-Luce probability of the true order. scores, labels: [n] (higher first).

    Shuffled first so tied labels are ordered at random, then sorted by label; log-sum-exp over each suffix.
    """
    import torch

    perm = torch.randperm(scores.shape[-1], generator=generator)
    s, y = scores[perm], labels[perm]
    order = torch.argsort(y, descending=True, stable=True)
    s = s[order]
    s = s - s.max()
    suffix = torch.flip(torch.cumsum(torch.flip(s.exp(), [0]), 0), [0])
    return torch.sum(torch.log(suffix + eps) - s)


def _listmle_loss(out: Any, lens: Any) -> Any:
    import torch

    labels = torch.as_tensor(length_label(lens.cpu().numpy(), LISTMLE_GROUP), device=out.device)
    return listmle(out[:, 0], labels)


def _pairwise_loss(out: Any, lens: Any) -> Any:
    """Margin ranking over every pair whose labels differ by >= PAIR_DELTA buckets (PARS-style)."""
    import torch

    labels = torch.as_tensor(length_label(lens.cpu().numpy(), LISTMLE_GROUP), device=out.device).float()
    s = out[:, 0]
    diff_y = labels[:, None] - labels[None, :]  # > 0: i is shorter than j, so s_i should exceed s_j
    mask = diff_y >= PAIR_DELTA
    if not bool(mask.any()):
        return s.sum() * 0.0
    gaps = (s[:, None] - s[None, :])[mask]
    return torch.relu(PAIR_MARGIN - gaps).mean()


def sched_pairwise(scores: Any, lens: Any) -> Any:
    """Pairwise logistic loss weighted by what a misorder costs per-token latency. scores, lens: [n].

    Over pairs with len_i < len_j: w_ij * log(1 + exp(-(s_i - s_j))), w_ij = |1/len_i - 1/len_j| (lengths
    clamped at ``SCHED_MIN_LEN``), divided by the sum of the weights. A request's per-token latency is its
    wait over its length, so a 5-token answer stuck behind a long one costs ~50x what a 250-token one does;
    these weights make errors among short requests cost most (LambdaLoss-style, the cost in place of a
    DCG delta).
    """
    import torch

    inv = 1.0 / lens.float().clamp(min=SCHED_MIN_LEN)
    shorter = lens[:, None] < lens[None, :]  # [i, j]: i is shorter than j, so s_i should exceed s_j
    if not bool(shorter.any()):
        return scores.sum() * 0.0
    w = (inv[:, None] - inv[None, :])[shorter]
    gaps = (scores[:, None] - scores[None, :])[shorter]
    return torch.sum(w * torch.nn.functional.softplus(-gaps)) / w.sum().clamp(min=1e-12)


def _sched_loss(out: Any, lens: Any) -> Any:
    return sched_pairwise(out[:, 0], lens)


def _regression_loss(out: Any, lens: Any) -> Any:
    import torch

    target = torch.log1p(lens.float().clamp(max=MAX_LEN))
    return torch.mean((out[:, 0] - target) ** 2)


def _classification_loss(group: int) -> Callable[[Any, Any], Any]:
    def loss(out: Any, lens: Any) -> Any:
        import torch

        labels = torch.as_tensor(length_label(lens.cpu().numpy(), group), device=out.device)
        return torch.nn.functional.cross_entropy(out, labels)

    return loss


_add(LossSpec("listmle", 1, _listmle_loss))
_add(LossSpec("pairwise", 1, _pairwise_loss))
_add(LossSpec("pairwise-sched", 1, _sched_loss))
_add(LossSpec("regression", 1, _regression_loss))
_add(LossSpec("classification", num_classes(820), _classification_loss(820), group=820))  # S3: 10 buckets
for _g in (100, 10, 1):
    _add(LossSpec(f"classification-{_g}", num_classes(_g), _classification_loss(_g), group=_g))


def get_loss(name: str) -> LossSpec:
    from ltrsched.errors import UserError

    try:
        return LOSSES.get(name)
    except KeyError as exc:
        raise UserError(str(exc.args[0])) from None


__all__ = ["LOSSES", "LossSpec", "get_loss", "listmle", "sched_pairwise"]
