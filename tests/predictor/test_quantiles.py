"""Length quantiles on real rankers (fast tier and an ensemble trained on real ShareGPT rows)."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ltrsched.errors import UserError
from ltrsched.predictor import load_ranker
from ltrsched.predictor.ensemble import EnsembleRanker
from ltrsched.predictor.fast import FastConfig, FastRanker
from ltrsched.predictor.quantiles import calibration, fit_quantile_map
from ltrsched.predictor.ranker import Ranker

ODD = ["", "   ", None, 7, "x" * 1_000_000, "word " * 200_000, [{"role": "user", "content": "hi"}], "Hi!"]


@pytest.fixture(scope="module")
def saved(sharegpt_small, tmp_path_factory):
    """(folder of a fast ranker, folder of an ensemble of two fast rankers, held-out rows)."""
    train, held_out = sharegpt_small
    root = tmp_path_factory.mktemp("rankers")
    FastRanker.train(train[:256], train[256:]).save(root / "head")
    FastRanker.train(train[:256], train[256:], FastConfig(max_chars=150, tail_chars=150)).save(root / "tail")
    EnsembleRanker.fit([root / "head", root / "tail"], train[256:]).save(root / "ens")
    return root, held_out


def _ordered(q):
    return q.shape[1] == 3 and np.all(np.isfinite(q)) and np.all(q[:, 0] <= q[:, 1]) and np.all(q[:, 1] <= q[:, 2])


def test_quantiles_are_monotone_for_any_input_and_survive_save_load(saved):
    root, held_out = saved
    prompts = [e.prompt for e in held_out]
    for name in ("head", "tail", "ens"):
        ranker = load_ranker(root / name)
        q = ranker.predict_quantiles(prompts + ODD)
        assert q.shape == (len(prompts) + len(ODD), 3) and _ordered(q) and np.all(q >= 0), name
        assert ranker.predict_quantiles([]).shape == (0, 3)
        again = load_ranker(root / name)
        np.testing.assert_array_equal(again.score(prompts), ranker.score(prompts))
        np.testing.assert_array_equal(again.predict_quantiles(prompts), q[: len(prompts)])
        # a higher score never predicts a longer answer
        order = np.argsort(ranker.score(prompts), kind="stable")
        assert np.all(np.diff(q[order, 1]) <= 1e-9), name


def test_calibration_on_held_out_is_roughly_right(saved):
    root, held_out = saved
    ranker = load_ranker(root / "head")
    lens = [e.output_len for e in held_out]
    cal = calibration(ranker.predict_quantiles([e.prompt for e in held_out]), lens)
    assert 0.0 <= cal["below_p10"] < cal["below_p50"] < cal["below_p90"] <= 1.0
    assert 0.25 < cal["below_p50"] < 0.75 and cal["below_p90"] > 0.6  # 160 held-out prompts: loose bounds
    assert cal["pinball_p50"] > 0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.integers(0, 8192)), min_size=1, max_size=200),
       st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=30))
def test_fitted_map_is_ordered_for_any_scores(fit_rows, queries):
    s, lens = (np.array(x) for x in zip(*fit_rows, strict=True))
    q = fit_quantile_map(s, lens).predict(np.array(queries, dtype=np.float64))
    assert q.shape == (len(queries), 3) and _ordered(q)


def test_old_manifest_without_quantiles_says_so(saved, tmp_path):
    root, _ = saved
    manifest = json.loads((root / "head" / "manifest.json").read_text())
    del manifest["quantiles"]
    FastRanker.load(root / "head").save(tmp_path / "old")
    (tmp_path / "old" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="no length quantiles"):
        load_ranker(tmp_path / "old").predict_quantiles(["hi"])


def test_each_loader_opens_its_kind_or_names_load_ranker(saved):
    root, _ = saved
    with pytest.raises(UserError, match=r"'ensemble' ranker, which Ranker.load .*ltrsched.predictor.load_ranker"):
        Ranker.load(root / "ens")
    with pytest.raises(UserError, match=r"'ensemble' ranker, which FastRanker.load .*load_ranker"):
        FastRanker.load(root / "ens")
    with pytest.raises(UserError, match=r"'fast-linear' ranker, which EnsembleRanker.load .*load_ranker"):
        EnsembleRanker.load(root / "head")
    assert EnsembleRanker.load(root / "ens").members[1].cfg.tail_chars == 150
    assert isinstance(load_ranker(root / "ens"), EnsembleRanker)


def test_old_fast_manifest_reads_head_only(saved, tmp_path):
    root, held_out = saved
    manifest = json.loads((root / "head" / "manifest.json").read_text())
    for key in ("tail_chars", "full_shape"):
        del manifest["config"][key]
    FastRanker.load(root / "head").save(tmp_path / "old")
    (tmp_path / "old" / "manifest.json").write_text(json.dumps(manifest))
    prompts = [e.prompt for e in held_out]
    old = FastRanker.load(tmp_path / "old")
    assert old.cfg.tail_chars == 0 and not old.cfg.full_shape
    np.testing.assert_array_equal(old.score(prompts), FastRanker.load(root / "head").score(prompts))
