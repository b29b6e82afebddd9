"""A short real training run: MiniLM on 256 real ShareGPT prompts (frozen-embedding head, then one fine-tuning
pass over the top layer), checked on 160 held-out prompts. ~40 s on 2 cores."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ltrsched.predictor import load_ranker
from ltrsched.predictor.baselines import PromptLengthRanker
from ltrsched.predictor.data import load_sharegpt
from ltrsched.predictor.metrics import mean_list_tau
from ltrsched.predictor.model import ModelConfig
from ltrsched.predictor.train import TrainConfig, train_ranker

pytestmark = pytest.mark.slow  # trains MiniLM (~30 s of fixture and tests)


@pytest.fixture(scope="module")
def trained(sharegpt_small, tmp_path_factory):
    import os

    train, held_out = sharegpt_small
    old = os.environ.get("LTRSCHED_CACHE")
    os.environ["LTRSCHED_CACHE"] = str(tmp_path_factory.mktemp("cache"))  # no stale embeddings from elsewhere
    try:
        out = tmp_path_factory.mktemp("ranker")
        cfg = TrainConfig(head_epochs=30, epochs=1, train_layers=1, eval_every=0, threads=2)
        ranker = train_ranker(train[:256], train[256:], cfg, ModelConfig(max_len=128), out, progress=False)
    finally:
        if old is None:
            os.environ.pop("LTRSCHED_CACHE")
        else:
            os.environ["LTRSCHED_CACHE"] = old
    return ranker, out, held_out


def test_trained_ranker_beats_prompt_length_on_held_out(trained):
    # 640 prompts of the real ShareGPT test split (20 lists of 32): the fixture's 160 are too few to rank
    # reliably (prompt length alone reaches 0.20 there, 0.06-0.11 on larger samples). Measured: 0.20 vs 0.11.
    ranker, _, _ = trained
    held_out = load_sharegpt("test", limit=640)
    lens = [e.output_len for e in held_out]
    tau = mean_list_tau(ranker.score([e.prompt for e in held_out]), lens)
    base = mean_list_tau(PromptLengthRanker().score_examples(held_out), lens)
    assert tau > base + 0.05, (tau, base)
    assert tau > 0.15
    assert ranker.manifest["metrics"]["finetune_steps"] == 8  # 256 prompts / lists of 32


def test_save_load_gives_identical_scores(trained):
    ranker, out, held_out = trained
    prompts = [e.prompt for e in held_out[:64]]
    loaded = load_ranker(out)
    assert loaded.manifest["loss"] == "listmle"
    np.testing.assert_array_equal(ranker.score(prompts), loaded.score(prompts))
    for name in ("manifest.json", "model.safetensors", "head.safetensors", "tokenizer.json", "config.json"):
        assert (out / name).is_file()


def test_odd_inputs_have_defined_scores(trained):
    ranker, _, _ = trained
    assert ranker.score([]).shape == (0,)
    odd = ["", "   \n\t", "word " * 100_000, None, 12345, b"bytes", [{"role": "user", "content": "hi"}]]
    scores = ranker.score(odd)
    assert scores.dtype == np.float32 and scores.shape == (len(odd),) and np.all(np.isfinite(scores))
    assert scores[0] == scores[1] == scores[3]  # empty, whitespace and None all read as ""
    # batch composition changes padding, hence float rounding: equal up to float32 noise
    assert np.isclose(scores[6], ranker.score(["hi"])[0], rtol=1e-5, atol=1e-6)
    huge = ranker.score(["word " * 100_000])[0]
    assert np.isclose(huge, ranker.score(["word " * 200])[0], rtol=1e-5, atol=1e-6)  # cut at max_len tokens


def test_score_is_thread_safe_and_order_independent(trained):
    ranker, _, held_out = trained
    prompts = [e.prompt for e in held_out[:48]]
    expected = ranker.score(prompts)
    np.testing.assert_allclose(ranker.score(prompts[::-1])[::-1], expected, rtol=1e-5, atol=1e-5)
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(ranker.score(prompts))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, expected)
