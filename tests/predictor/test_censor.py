"""Censored rows (stopped by max_tokens, aborted, failed): lower bounds that train only the orders they decide."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ltrsched.predictor.censor import shorter_pairs
from ltrsched.predictor.data import LengthExample, load_jsonl
from ltrsched.predictor.fast import FastConfig, FastRanker
from ltrsched.predictor.losses import get_loss, listmle

RANKING = ("listmle", "pairwise", "pairwise-sched")
MARKER = "zebrafinch"  # a word no ShareGPT prompt holds


def _grad(name: str, scores: list[float], lens: list[int], censored: list[bool]) -> torch.Tensor:
    out = torch.tensor(scores).reshape(-1, 1).requires_grad_(True)
    get_loss(name).fn(out, torch.tensor(lens), torch.tensor(censored)).backward()
    assert out.grad is not None
    return out.grad[:, 0]


def test_the_pair_mask_needs_a_finished_shorter_side() -> None:
    lens, cens = np.array([10, 30, 50, 20]), np.array([False, True, False, True])
    got = shorter_pairs(lens, cens)
    # 10 (finished) < everything; 50 (finished) < nothing; censored 30 and 20 decide nothing as the shorter side
    assert got.tolist() == [[False, True, True, True], [False] * 4, [False] * 4, [False] * 4]


@pytest.mark.parametrize("name", RANKING)
def test_a_bound_below_every_length_decides_nothing(name: str) -> None:
    # row 0 was cut at 5 tokens: it may end up shorter or longer than any other row, so its score gets no push,
    # however wrongly it is placed (here: scored as the shortest)
    grad = _grad(name, [3.0, 0.5, 0.0, -0.5], [5, 60, 200, 900], [True, False, False, False])
    assert float(grad[0]) == 0.0
    assert float(grad[1:].abs().sum()) > 0.0  # the finished rows still train their own order


@pytest.mark.parametrize("name", RANKING)
def test_a_bound_above_every_length_is_ranked_longer(name: str) -> None:
    # row 0 was cut at 1000 tokens, longer than every finished row: scored as the shortest, it is pushed down
    grad = _grad(name, [3.0, 0.5, 0.0, -0.5], [1000, 60, 200, 900], [True, False, False, False])
    assert float(grad[0]) > 0.0  # gradient descent lowers its score


def _loss(name: str, scores: list[float], lens: list[int], censored: list[bool]) -> float:
    out = torch.tensor(scores).reshape(-1, 1)
    return float(get_loss(name).fn(out, torch.tensor(lens), torch.tensor(censored)))


@pytest.mark.parametrize("name", RANKING)
def test_two_censored_rows_never_order_each_other(name: str) -> None:
    lens, cens = [100, 400, 20], [True, True, False]  # both cut, both past the finished row's 20 tokens
    if name == "pairwise-sched":  # weights differ by length: row 0's push depends on row 2 alone, not on row 1
        assert float(_grad(name, [2.0, 1.0, -3.0], lens, cens)[0]) == pytest.approx(
            float(_grad(name, [2.0, 9.0, -3.0], lens, cens)[0]))
    else:  # the loss cannot tell the censored pair's two orders apart
        assert _loss(name, [2.0, 1.0, -3.0], lens, cens) == pytest.approx(_loss(name, [1.0, 2.0, -3.0], lens, cens))
        assert _loss(name, [2.0, 1.0, -3.0], lens, cens) != pytest.approx(
            _loss(name, [2.0, 1.0, -3.0], lens, [False, False, False]))
    assert float(_grad(name, [2.0, 1.0], [100, 400], [True, True]).abs().sum()) == 0.0


def test_listmle_without_censored_rows_is_unchanged() -> None:
    scores, labels = torch.tensor([0.3, -1.0, 2.0, 0.1]), torch.tensor([5, 9, 1, 5])
    lens = torch.tensor([40, 3, 85, 41])
    plain = listmle(scores, labels, torch.Generator().manual_seed(1))
    none = listmle(scores, labels, torch.Generator().manual_seed(1), censored=torch.zeros(4, dtype=torch.bool),
                   lens=lens)
    assert float(plain) == pytest.approx(float(none), abs=1e-6)


def test_regression_and_classification_use_a_bound_as_at_least() -> None:
    lens, cens = torch.tensor([50, 50]), torch.tensor([True, False])
    above = torch.tensor([[np.log1p(400.0)], [np.log1p(50.0)]], dtype=torch.float32)  # predicted past the bound
    assert float(get_loss("regression").fn(above, lens, cens)) == pytest.approx(0.0, abs=1e-10)
    below = torch.tensor([[np.log1p(10.0)], [np.log1p(50.0)]], dtype=torch.float32)
    assert float(get_loss("regression").fn(below, lens, cens)) > 0.5
    spec = get_loss("classification-100")
    logits = torch.randn(2, spec.out_dim)
    assert float(spec.fn(logits, lens, cens)) == pytest.approx(float(spec.fn(logits[1:], lens[1:], None)))


def test_served_log_rows_load_censored(tmp_path: Path) -> None:
    path = tmp_path / "served.jsonl"
    rows = [{"prompt": "hi", "output_len": 5, "finish_reason": r} for r in ("stop", "length", "abort", "error")]
    path.write_text("".join(json.dumps(r) + "\n" for r in [*rows, {"prompt": "plain", "output_len": 9}]))
    assert [e.censored for e in load_jsonl(path)] == [False, True, True, True, False]


def _cut(examples: list[LengthExample], cap: int) -> list[LengthExample]:
    """Every other prompt gets the marker, and those answers were all cut at ``cap`` tokens (they were long)."""
    out = []
    for i, e in enumerate(examples):
        if i % 2:
            out.append(LengthExample(e.id, f"{MARKER} {e.prompt}", cap, e.prompt_len, censored=True))
        else:
            out.append(e)
    return out


def test_the_fast_tier_does_not_learn_a_cut_group_as_short(sharegpt_small: tuple[list[LengthExample], ...]) -> None:
    train, held_out = sharegpt_small
    rows = _cut(train, cap=4)
    probe = [f"{MARKER} {e.prompt}" for e in held_out[:60]], [str(e.prompt) for e in held_out[:60]]
    cfg = FastConfig(n_features=2**14, alphas=[1.0])

    def marker_gap(examples: list[LengthExample]) -> float:
        ranker = FastRanker.train(examples, held_out[60:120], cfg)
        return float(np.mean(ranker.score(probe[0]) - ranker.score(probe[1])))  # > 0: marker ranked shorter

    naive = marker_gap([LengthExample(e.id, e.prompt, e.output_len, e.prompt_len) for e in rows])
    assert naive > 0.5  # read as exact lengths, 4 tokens teaches "marker = short"
    assert abs(marker_gap(rows)) < 0.25 * naive  # as lower bounds it teaches nothing of the kind


def test_the_head_trainer_passes_censoring_to_the_loss() -> None:
    """``train._train_head`` on 8-d embeddings: dimension 0 marks rows whose answers were cut at 4 tokens."""
    from types import SimpleNamespace

    from ltrsched.predictor.train import TrainConfig, _train_head

    rng = np.random.default_rng(0)
    emb = rng.normal(0, 1, (256, 8)).astype(np.float32)
    marked = np.arange(256) % 2 == 1
    emb[:, 0] = marked
    lens = np.where(marked, 4, rng.integers(5, 400, 256))
    spec = get_loss("listmle")

    def marker_weight(cens: np.ndarray | None) -> float:
        torch.manual_seed(0)
        head = torch.nn.Linear(8, 1)
        cfg = TrainConfig(head_epochs=20, head_lr=1e-2)
        _train_head(SimpleNamespace(head=head), spec, cfg, emb, lens, emb[~marked][:64], lens[~marked][:64],
                    np.random.default_rng(0), False, cens)
        return float(head.weight[0, 0].detach())  # > 0: the marker raises the score (= shorter)

    naive, censored = marker_weight(None), marker_weight(marked)
    assert naive > 0.5  # read as exact: "marked = short"
    assert censored < 0.25 * naive  # as lower bounds: nothing of the kind


def test_the_val_metric_counts_only_decided_pairs() -> None:
    from ltrsched.predictor.metrics import mean_list_tau

    lens, cens = np.array([5, 60, 200, 900]), np.array([True, False, False, False])
    scores = np.array([0.0, 3.0, 2.0, 1.0])  # the finished rows in the right order, the row cut at 5 placed last
    assert mean_list_tau(scores, lens, list_size=4) == pytest.approx(0.0)  # read as exact: 3 of 6 pairs wrong
    assert mean_list_tau(scores, lens, list_size=4, censored=cens) == 1.0  # as a bound it decides nothing
    assert mean_list_tau(scores, lens, 4, np.zeros(4, bool)) == mean_list_tau(scores, lens, 4)
