import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau

from ltrsched.predictor.metrics import list_taus, mean_list_tau, split_tau, tau_b


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=2, max_size=40))
def test_tau_b_matches_scipy_with_ties(pairs):
    x, y = np.array(pairs).T
    ref = kendalltau(x, y).statistic
    got = tau_b(x, y)
    assert (np.isnan(ref) and np.isnan(got)) or abs(got - ref) < 1e-12


def test_list_tau_is_mean_over_lists_of_32_and_sign_convention():
    rng = np.random.default_rng(0)
    lens = rng.integers(1, 1000, size=100)
    perfect = -lens.astype(float)  # higher score = shorter
    assert mean_list_tau(perfect, lens) == 1.0
    assert mean_list_tau(lens, lens) == -1.0
    assert len(list_taus(perfect, lens)) == 3  # 100 // 32, the short tail is dropped
    noisy = perfect + rng.normal(0, 300, size=100)
    expected = np.mean([kendalltau(noisy[i:i + 32], -lens[i:i + 32]).statistic for i in (0, 32, 64)])
    assert abs(mean_list_tau(noisy, lens) - expected) < 1e-12
    assert abs(split_tau(noisy, lens) - kendalltau(noisy, -lens).statistic) < 1e-12


def test_eval_counts_a_capped_row_only_where_its_bound_decides() -> None:
    """A request cut at 5 tokens is ranked longest by prompt length, and it was long: no penalty for that order."""
    from ltrsched.predictor.data import LengthExample
    from ltrsched.predictor.evaluate import evaluate

    rows = [LengthExample(id=str(i), prompt="p", output_len=i + 10, prompt_len=i) for i in range(31)]
    cut = LengthExample(id="cut", prompt="p", output_len=5, prompt_len=99, censored=True)
    (row,), _ = evaluate(["prompt-length"], [*rows, cut], burst=False)
    assert row.tau == 1.0  # the cut row's 31 pairs are undecided: it is at least 5, all others are longer
    uncut = LengthExample(id="cut", prompt="p", output_len=5, prompt_len=99)
    (row,), _ = evaluate(["prompt-length"], [*rows, uncut], burst=False)
    assert row.tau < 0.95  # read at its bound, it would be the shortest, ranked longest
