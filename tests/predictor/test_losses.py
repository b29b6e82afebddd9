import math

import pytest
import torch

from ltrsched.predictor.labels import length_label, num_classes
from ltrsched.predictor.losses import LOSSES, get_loss, listmle


def test_listmle_pinned_value_by_hand():
    # True order (labels 3 > 2 > 1) puts the scores in the order 2, 1, 0. Plackett-Luce:
    # -log P = [log(e^2 + e^1 + e^0) - 2] + [log(e^1 + e^0) - 1] + [log(e^0) - 0]
    expected = math.log(1 + math.exp(-1) + math.exp(-2)) + math.log(1 + math.exp(-1))
    got = listmle(torch.tensor([2.0, 1.0, 0.0]), torch.tensor([3, 2, 1]))
    assert float(got) == pytest.approx(expected, abs=1e-6)
    assert float(got) == pytest.approx(0.7209, abs=1e-4)
    # shuffling the inputs together changes nothing when labels are distinct
    assert float(listmle(torch.tensor([0.0, 2.0, 1.0]), torch.tensor([1, 3, 2]))) == pytest.approx(expected, abs=1e-6)


def test_listmle_equal_scores_is_log_factorial():
    assert float(listmle(torch.zeros(4), torch.tensor([4, 3, 2, 1]))) == pytest.approx(math.log(24), abs=1e-5)


def test_paper_labels_larger_is_shorter():
    assert length_label([0, 9, 10, 8191, 8192, 20000], 10).tolist() == [819, 819, 818, 0, 0, 0]
    assert length_label([0, 819, 820, 9000], 820).tolist() == [9, 9, 8, 0]
    assert num_classes(820) == 10 and num_classes(1) == 8193


def test_every_loss_trains_toward_the_right_order():
    lens = torch.tensor([10, 50, 200, 800, 3000])
    for name in LOSSES:
        spec = get_loss(name)
        out = torch.zeros(5, spec.out_dim, requires_grad=True)
        opt = torch.optim.SGD([out], lr=0.5 if spec.group else 0.1)
        for _ in range(200):
            opt.zero_grad()
            spec.fn(out, lens).backward()
            opt.step()
        scores = spec.score(out.detach())
        assert torch.all(scores[:-1] >= scores[1:]), name  # shorter first
        assert scores[0] > scores[-1], name


def test_registry_refuses_duplicates_and_names_known():
    with pytest.raises(ValueError):
        LOSSES.register("listmle")(get_loss("listmle"))
    from ltrsched.errors import UserError

    with pytest.raises(UserError, match="known: classification"):
        get_loss("nope")
