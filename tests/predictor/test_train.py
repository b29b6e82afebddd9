"""A short real training run with the scheduling-aware objective: MiniLM reading head + tail of each prompt, on 256
real ShareGPT prompts (frozen-embedding head, then one fine-tuning pass over the top layer, checkpoints selected by
the val burst's oracle-gain share), checked on held-out prompts. ~40 s on 2 cores."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ltrsched.predictor import load_ranker
from ltrsched.predictor.baselines import PromptLengthRanker
from ltrsched.predictor.data import load_sharegpt
from ltrsched.predictor.metrics import mean_list_tau
from ltrsched.predictor.model import ModelConfig
from ltrsched.predictor.ranker import Ranker
from ltrsched.predictor.train import TrainConfig, train_ranker

pytestmark = pytest.mark.slow  # trains a real MiniLM: ~60 s on an idle 2-core machine, several minutes when shared


@pytest.fixture(scope="module")
def trained(sharegpt_small, tmp_path_factory):
    import os

    train, held_out = sharegpt_small
    old = os.environ.get("LTRSCHED_CACHE")
    os.environ["LTRSCHED_CACHE"] = str(tmp_path_factory.mktemp("cache"))  # no stale embeddings from elsewhere
    try:
        out = tmp_path_factory.mktemp("ranker")
        cfg = TrainConfig(loss="pairwise-sched", head_epochs=30, epochs=1, train_layers=1, eval_every=0, threads=2,
                          select_by="oracle-gain")
        ranker = train_ranker(train[:256], train[256:], cfg, ModelConfig(max_len=128, tail_tokens=64), out,
                              progress=False)
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


def test_save_load_gives_identical_scores(trained, tmp_path):
    ranker, out, held_out = trained
    prompts = [e.prompt for e in held_out[:64]]
    fp32 = Ranker.load(out, int8=False)  # the plain-torch encoder: transformers' arithmetic, float rounding aside
    assert fp32.manifest["loss"] == "pairwise-sched" and fp32.config.tail_tokens == 64
    np.testing.assert_allclose(fp32.score(prompts), ranker.score(prompts), atol=1e-4)
    loaded = load_ranker(out)  # the default scoring path: int8
    loaded.save(tmp_path / "again")
    again = load_ranker(tmp_path / "again")
    np.testing.assert_array_equal(again.score(prompts), loaded.score(prompts))
    q = again.predict_quantiles(prompts)
    np.testing.assert_array_equal(loaded.predict_quantiles(prompts), q)
    assert np.all(q[:, 0] <= q[:, 1]) and np.all(q[:, 1] <= q[:, 2])
    for name in ("manifest.json", "model.safetensors", "head.safetensors", "tokenizer.json", "config.json"):
        assert (out / name).is_file() and (tmp_path / "again" / name).is_file()


def test_int8_scoring_keeps_the_fp32_order(trained, monkeypatch):
    import torch
    from scipy.stats import kendalltau

    from ltrsched.errors import UserError
    from ltrsched.predictor.ranker import PRECISION_ENV

    ranker, out, held_out = trained
    held_out = load_sharegpt("test", limit=640)
    prompts, lens = [e.prompt for e in held_out], [e.output_len for e in held_out]
    int8, ref = load_ranker(out), ranker.score(prompts)
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in int8.model.backbone.modules())
    fast = int8.score(prompts)
    assert not np.array_equal(fast, ref)  # really quantized, yet the same order up to small swaps
    assert kendalltau(fast, ref).statistic > 0.8  # measured 0.88 here (a lightly trained head), 0.94 on the default
    assert abs(mean_list_tau(fast, lens) - mean_list_tau(ref, lens)) < 0.02
    monkeypatch.setenv(PRECISION_ENV, "fp32")
    np.testing.assert_allclose(load_ranker(out).score(prompts[:64]), ref[:64], atol=1e-4)
    monkeypatch.setenv(PRECISION_ENV, "int4")
    with pytest.raises(UserError, match="LTRSCHED_SCORER"):
        load_ranker(out)


def test_scoring_imports_no_transformers(trained):
    from ltrsched.predictor.speed import speed

    _, out, held_out = trained
    result = speed(out, [e.prompt for e in held_out], repeats=1)
    assert "torch" in result["imported"] and "transformers" not in result["imported"], result["imported"]


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
    q = ranker.predict_quantiles(odd)
    assert q.shape == (len(odd), 3) and np.all(q[:, 0] <= q[:, 1]) and np.all(q[:, 1] <= q[:, 2])


def test_head_tail_window_reads_the_end_of_a_long_prompt(trained):
    ranker, _, _ = trained
    long_a = "Here is my essay. " + "The cat sat on the mat. " * 300 + "Give it a title."
    long_b = "Here is my essay. " + "The cat sat on the mat. " * 300 + "Rewrite it in full, expanding every paragraph."
    ids_a, ids_b = ranker.encode([long_a, long_b])
    tok = ranker.tokenizer
    assert len(ids_a) == 128 and ids_a[0] == tok.cls_token_id and ids_a[-1] == tok.sep_token_id
    assert tok.decode(ids_a[-6:-1]).strip() == "give it a title."  # the last 64 tokens end the window
    assert tok.decode(ids_a[1:5]).startswith("here is my essay")  # the first 62 begin it
    assert ids_a[:63] == ids_b[:63] and ids_a != ids_b  # same head ([CLS] + 62), different tail
    short = ranker.encode(["Give it a title."])[0]
    assert tok.decode(short[1:-1]) == "give it a title."  # a short prompt is read whole


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
