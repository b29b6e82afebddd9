import math

import pytest
import torch

from ltrsched.predictor.labels import length_label, num_classes
from ltrsched.predictor.losses import LOSSES, get_loss, listmle, sched_pairwise


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


def test_sched_pairwise_pinned_value_by_hand():
    # lens 10, 20, 40 (no clamping), scores 1, 0, 0. Pairs (shorter, longer) and weights |1/a - 1/b|:
    # (10, 20): 0.05, gap 1 -> log(1 + e^-1); (10, 40): 0.075, gap 1 -> log(1 + e^-1); (20, 40): 0.025,
    # gap 0 -> log 2. Loss = (0.125 log(1 + e^-1) + 0.025 log 2) / 0.15.
    expected = (0.125 * math.log(1 + math.exp(-1)) + 0.025 * math.log(2)) / 0.15
    got = sched_pairwise(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([10, 20, 40]))
    assert float(got) == pytest.approx(expected, abs=1e-6)
    assert float(got) == pytest.approx(0.3766, abs=1e-4)  # 0.0565 / 0.15
    # lengths under SCHED_MIN_LEN weigh as 10: a 2- vs 5-token pair carries no weight, only its pairs with 40
    tied = sched_pairwise(torch.tensor([0.0, 0.0, 0.0]), torch.tensor([2, 5, 40]))
    assert float(tied) == pytest.approx(math.log(2), abs=1e-6)


def test_sched_pairwise_weighs_short_pairs_most():
    # the same one misordered pair costs more among short requests than among long ones
    lens = torch.tensor([10, 20, 400, 800])
    wrong_short = sched_pairwise(torch.tensor([0.0, 1.0, -2.0, -3.0]), lens)
    wrong_long = sched_pairwise(torch.tensor([3.0, 2.0, -1.0, 0.0]), lens)
    assert float(wrong_short) > float(wrong_long)
