"""Training losses, by name: ``listmle`` (default, the paper's), ``pairwise``, ``pairwise-sched`` (scheduling
cost weighted), ``classification[-G]``, ``regression``.

Every loss takes the model's raw output for one list, ``out: [n, out_dim]``, the lengths ``lens: [n]`` (tokens)
and optionally ``censored: [n]`` (bool: that length is only a lower bound, see ``ltrsched.predictor.censor``), and
returns a scalar. Censored rows enter only the orders they decide: the ranking losses use them as the longer side
of a pair whose shorter side finished by itself, regression only penalizes predicting below the bound, and
classification leaves them out. ``LossSpec.score`` turns the raw output into one score per prompt with higher =
shorter expected output, whatever the loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ltrsched.predictor.censor import shorter_pairs
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
    fn: Callable[..., Any]  # (out [n, out_dim], lens [n], censored [n] bool or None) -> scalar tensor
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


def listmle(scores: Any, labels: Any, generator: Any = None, eps: float = 1e-10, censored: Any = None,
            lens: Any = None) -> Any:
    """ListMLE (allRank): -log Plackett-Luce probability of the true order. scores, labels: [n] (higher first).

    Shuffled first so tied labels are ordered at random, then sorted by label; each position's term is its score
    against the log-sum-exp of the rows at or after it. With ``censored`` (and ``lens``) a censored row has no
    term of its own and counts in a finished row's sum only when its lower bound is at least that row's length:
    the Plackett-Luce form of Cox's partial likelihood.
    """
    import torch

    perm = torch.randperm(scores.shape[-1], generator=generator)
    s, y = scores[perm], labels[perm]
    order = torch.argsort(y, descending=True, stable=True)
    s = s[order]
    s = s - s.max().detach()  # shift-invariant: only for exp's range
    idx = torch.arange(s.shape[0], device=s.device)
    risk = idx[None, :] >= idx[:, None]  # [k, m]: m is at or after k
    if censored is None:
        return torch.sum(torch.log((risk * s.exp()[None, :]).sum(1) + eps) - s)
    c, n = censored[perm][order], lens[perm][order]
    risk = torch.where(c[None, :], n[None, :] >= n[:, None], risk)
    terms = torch.log((risk * s.exp()[None, :]).sum(1) + eps) - s
    return torch.sum(terms[~c])


def _listmle_loss(out: Any, lens: Any, censored: Any = None) -> Any:
    import torch

    labels = torch.as_tensor(length_label(lens.cpu().numpy(), LISTMLE_GROUP), device=out.device)
    return listmle(out[:, 0], labels, censored=censored, lens=lens)


def _pairwise_loss(out: Any, lens: Any, censored: Any = None) -> Any:
    """Margin ranking over every pair whose labels differ by >= PAIR_DELTA buckets (PARS-style) and whose shorter
    side finished by itself."""
    import torch

    labels = torch.as_tensor(length_label(lens.cpu().numpy(), LISTMLE_GROUP), device=out.device).float()
    s = out[:, 0]
    diff_y = labels[:, None] - labels[None, :]  # > 0: i is shorter than j, so s_i should exceed s_j
    mask = diff_y >= PAIR_DELTA
    if censored is not None:
        mask &= ~censored[:, None]
    if not bool(mask.any()):
        return s.sum() * 0.0
    gaps = (s[:, None] - s[None, :])[mask]
    return torch.relu(PAIR_MARGIN - gaps).mean()


def sched_pairwise(scores: Any, lens: Any, censored: Any = None) -> Any:
    """Pairwise logistic loss weighted by what a misorder costs per-token latency. scores, lens: [n].

    Over pairs with len_i < len_j: w_ij * log(1 + exp(-(s_i - s_j))), w_ij = |1/len_i - 1/len_j| (lengths
    clamped at ``SCHED_MIN_LEN``), divided by the sum of the weights. A request's per-token latency is its
    wait over its length, so a 5-token answer stuck behind a long one costs ~50x what a 250-token one does;
    these weights make errors among short requests cost most (LambdaLoss-style, the cost in place of a
    DCG delta). With ``censored``, only pairs whose shorter side finished by itself.
    """
    import torch

    inv = 1.0 / lens.float().clamp(min=SCHED_MIN_LEN)
    if censored is None:
        censored = torch.zeros_like(lens, dtype=torch.bool)
    shorter = shorter_pairs(lens, censored)  # [i, j]: i is shorter than j, so s_i should exceed s_j
    if not bool(shorter.any()):
        return scores.sum() * 0.0
    w = (inv[:, None] - inv[None, :])[shorter]
    gaps = (scores[:, None] - scores[None, :])[shorter]
    return torch.sum(w * torch.nn.functional.softplus(-gaps)) / w.sum().clamp(min=1e-12)


def _sched_loss(out: Any, lens: Any, censored: Any = None) -> Any:
    return sched_pairwise(out[:, 0], lens, censored)


def _regression_loss(out: Any, lens: Any, censored: Any = None) -> Any:
    """Squared error on log length; a censored row is an error only when predicted below its bound."""
    import torch

    err = out[:, 0] - torch.log1p(lens.float().clamp(max=MAX_LEN))
    if censored is not None:
        err = torch.where(censored, err.clamp(max=0.0), err)
    return torch.mean(err ** 2)


def _classification_loss(group: int) -> Callable[..., Any]:
    def loss(out: Any, lens: Any, censored: Any = None) -> Any:
        """Cross-entropy on the length bucket; censored rows (their bucket is unknown) are left out."""
        import torch

        if censored is not None:
            out, lens = out[~censored], lens[~censored]
        if lens.numel() == 0:
            return out.sum() * 0.0
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
