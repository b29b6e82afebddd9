import numpy as np

from ltrsched.predictor import load_ranker
from ltrsched.predictor.baselines import PromptLengthRanker, TfidfRidgeRanker
from ltrsched.predictor.fast import FastRanker
from ltrsched.predictor.metrics import mean_list_tau


def test_fast_tier_learns_and_round_trips(sharegpt_small, tmp_path):
    train, held_out = sharegpt_small
    fast = FastRanker.train(train[:256], train[256:])
    lens = [e.output_len for e in held_out]
    prompts = [e.prompt for e in held_out]
    tau = mean_list_tau(fast.score(prompts), lens)
    assert tau > mean_list_tau(PromptLengthRanker().score_examples(held_out), lens)
    assert tau > 0.1
    fast.save(tmp_path / "fast")
    loaded = load_ranker(tmp_path / "fast")
    np.testing.assert_array_equal(loaded.score(prompts), fast.score(prompts))
    odd = loaded.score(["", "  ", None, 7, "x" * 1_000_000])
    assert odd.shape == (5,) and np.all(np.isfinite(odd)) and odd[0] == odd[1] == odd[2]
    assert loaded.score([]).shape == (0,)


def test_tfidf_baseline_runs(sharegpt_small):
    train, held_out = sharegpt_small
    scores = TfidfRidgeRanker(train).score_examples(held_out)
    assert scores.shape == (len(held_out),) and np.all(np.isfinite(scores))
