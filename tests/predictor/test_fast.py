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


def test_numpy_hashing_is_scikit_learns(sharegpt_small):
    # The fast tier's weights were fitted on scikit-learn's HashingVectorizer features: predictor.hashing must give
    # the same indices and values (real prompts, plus keys of every length modulo 4 and non-ASCII text).
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.utils import murmurhash3_32

    from ltrsched.predictor.hashing import hash_rows, murmur3_32

    train, held_out = sharegpt_small
    texts = [e.prompt for e in train + held_out] + ["", "a", "Ünïcödé 日本語 text, émoji 🎉 and CODE_snake_case"]
    keys = [t.encode("utf-8")[:n] for n in range(12) for t in texts[:20]] + [b"x" * 601]
    np.testing.assert_array_equal(murmur3_32(keys), [murmurhash3_32(k, seed=0) for k in keys])
    for n_features, n_max in ((2**18, 2), (2**10, 3)):
        ref = HashingVectorizer(n_features=n_features, ngram_range=(1, n_max), alternate_sign=False, norm="l2",
                                dtype=np.float32).transform(texts).tocoo()
        h = hash_rows(texts, n_features, n_max)
        order = np.lexsort((ref.col, ref.row))
        np.testing.assert_array_equal(h.rows, ref.row[order])
        np.testing.assert_array_equal(h.indices, ref.col[order])
        np.testing.assert_allclose(h.values, ref.data[order], rtol=1e-6)


def test_fast_tier_scores_without_importing_scikit_learn(sharegpt_small, tmp_path):
    from ltrsched.predictor.speed import speed

    train, held_out = sharegpt_small
    FastRanker.train(train[:256], train[256:]).save(tmp_path / "fast")
    result = speed(tmp_path / "fast", [e.prompt for e in held_out], repeats=1)
    assert result["prompts_per_s"] > 1000 and result["peak_mb"] >= result["rss_mb"]["scored"]
    assert not {"sklearn", "torch", "scipy"} & set(result["imported"]), result["imported"]
