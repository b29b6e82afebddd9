"""The scheduling figures on real ShareGPT rows (Llama-3 lengths from the fixture) and the real simulator."""

import numpy as np
import pytest

from ltrsched.predictor import schedmetric as sm


@pytest.fixture(scope="module")
def rows(sharegpt_small):
    train, held_out = sharegpt_small
    examples = train + held_out
    return np.array([e.prompt_len for e in examples]), np.array([e.output_len for e in examples])


def test_oracle_gain_share_is_one_for_true_lengths_and_lower_for_noise(rows):
    plens, lens = rows
    assert sm.oracle_gain_share(plens, lens, -lens.astype(float)) == pytest.approx(1.0, abs=1e-9)
    noisy = -np.log(lens + 1.0) + np.random.default_rng(0).normal(0, 1.0, len(lens))
    share = sm.oracle_gain_share(plens, lens, noisy)
    assert 0.0 < share < 0.95
    # a worse ranker keeps less of the gain: reversing the true order is worse than FCFS
    assert sm.oracle_gain_share(plens, lens, lens.astype(float)) < 0.0


def test_shortest_decile_recall_by_hand():
    lens = np.arange(1, 21)  # the shortest 10% are lengths 1 and 2
    assert sm.shortest_decile_recall(-lens.astype(float), lens) == 1.0
    scores = np.zeros(20)
    scores[[0, 7]] = 1.0  # finds length 1, misses length 2
    assert sm.shortest_decile_recall(scores, lens) == 0.5


def test_buckets_and_long_mix(rows):
    plens, lens = rows
    assert sm.bucket_of([0, 63, 64, 255, 256, 1023, 1024, 5000]).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    taus = sm.bucket_taus(-lens.astype(float), lens, plens)
    assert sum(n for _, n in taus.values()) == len(lens)
    assert all(t == 1.0 for t, n in taus.values() if n >= 32)
    idx = sm.long_mix_index(plens)
    counts = np.bincount(sm.bucket_of(plens[idx]), minlength=4)
    present = np.bincount(sm.bucket_of(plens), minlength=4) > 0
    assert len(set(counts[present].tolist())) == 1 and counts[~present].sum() == 0
    assert sm.long_mix_tau(-lens.astype(float), lens, plens) == 1.0
