"""The online tier learns the served model's lengths row by row; censored rows teach only what they decide."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ltrsched.errors import UserError
from ltrsched.predictor.blend import Blend, choose, interchange_cost, paired_gain
from ltrsched.predictor.data import LengthExample
from ltrsched.predictor.hashing import hash_rows
from ltrsched.predictor.online import OnlineConfig, OnlineLinear, load_state, save_state

MARKER = "zebrafinch"  # a word no ShareGPT prompt holds


def planted(examples: list[LengthExample], seed: int, cut: bool = False) -> tuple[list[str], list[int], list[bool]]:
    """Real prompts; a random half get the marker. Rule: marker answers take 2-5 tokens, the rest 30-59. With
    ``cut`` the marker rows are instead long answers cut at 3 tokens (censored)."""
    rng = np.random.default_rng(seed)
    texts, lens, censored = [], [], []
    for e in examples:
        marked = bool(rng.random() < 0.5)
        texts.append(f"{MARKER} {str(e.prompt)[:300]}" if marked else str(e.prompt)[:300])
        lens.append(3 if marked and cut else int(rng.integers(2, 6) if marked else rng.integers(30, 60)))
        censored.append(marked and cut)
    return texts, lens, censored


def auc(scores: np.ndarray, texts: list[str]) -> float:
    """Chance that a marker prompt is scored shorter than a plain one."""
    marked = np.array([t.startswith(MARKER) for t in texts])
    return float(np.mean(scores[marked][:, None] > scores[~marked][None, :]))


OWN = OnlineConfig(residual=0.0, learning_rate=50.0)  # a model of its own, at the step it learns such a rule with


def blind(texts: list[str]) -> np.ndarray:
    """A shipped ranker that knows nothing of the marker: shorter prompts first (a real, weak signal)."""
    return -np.log1p(np.array([len(t) for t in texts], dtype=np.float64))


def feed(model: OnlineLinear, rows: tuple[list[str], list[int], list[bool]], batch: int = 16) -> None:
    texts, lens, censored = rows
    for i in range(0, len(texts), batch):
        model.learn(texts[i:i + batch], lens[i:i + batch], censored[i:i + batch], blind(texts[i:i + batch]))


def score(model: OnlineLinear, probe: list[str]) -> np.ndarray:
    return model.snapshot().score(probe, blind(probe))


@pytest.mark.parametrize(("cfg", "early_floor", "floor"), [
    (OWN, 0.7, 0.95),
    (OnlineConfig(learning_rate=50.0), 0.6, 0.9),  # a correction to the blind ranker, at the same step
])
def test_a_planted_rule_is_learned_within_a_few_hundred_rows(sharegpt_small: tuple[list[LengthExample], ...],
                                                             cfg: OnlineConfig, early_floor: float,
                                                             floor: float) -> None:
    train, held_out = sharegpt_small
    probe = planted(held_out[:100], seed=1)[0]  # prompts the model never saw
    model = OnlineLinear(cfg)
    untrained = auc(score(model, probe), probe)
    assert untrained == (0.0 if cfg.residual == 0 else auc(blind(probe), probe))  # all ties, or the shipped order
    feed(model, planted(train[:80], seed=0))
    early = auc(score(model, probe), probe)
    feed(model, planted(train[80:320], seed=2))
    assert model.num_rows == 320
    assert untrained < 0.6 and early > early_floor and auc(score(model, probe), probe) > floor


def test_the_correction_starts_as_the_shipped_ranker_and_moves_only_where_it_learned(
        sharegpt_small: tuple[list[LengthExample], ...]) -> None:
    from scipy.stats import kendalltau

    train, held_out = sharegpt_small
    probe = planted(held_out[:100], seed=1)[0]
    model = OnlineLinear(OnlineConfig())  # the defaults: residual 1, step 5
    assert kendalltau(score(model, probe), blind(probe)).statistic == pytest.approx(1.0)
    own = OnlineLinear(OWN)
    for m in (model, own):
        feed(m, planted(train[:320], seed=0))
    got = score(model, probe)
    assert auc(got, probe) > auc(blind(probe), probe) + 0.1  # it learned some of the rule at this small step
    # Among prompts without the marker (lengths 30-59 at random: nothing to learn), the correction keeps most of
    # the shipped order (0.67 when written) and a model of its own replaces it with what it fit to noise (-0.58).
    plain = np.array([not t.startswith(MARKER) for t in probe])
    assert kendalltau(got[plain], blind(probe)[plain]).statistic > 0.5
    assert kendalltau(score(own, probe)[plain], blind(probe)[plain]).statistic < 0.0


def test_censored_rows_never_train_an_order_they_cannot_decide(sharegpt_small: tuple[list[LengthExample], ...]) -> None:
    train, held_out = sharegpt_small
    model, default = OnlineLinear(OWN), OnlineLinear(OnlineConfig())
    cfg = model._reader.cfg
    bucket = int(hash_rows([MARKER], cfg.n_features, cfg.ngram_max).indices[0])
    rows = planted(train[:320], seed=0, cut=True)
    naive = OnlineLinear(OWN)
    feed(naive, (rows[0], rows[1], [False] * len(rows[1])))  # the cut lengths read as exact
    assert naive.coef[bucket] < -0.1  # "marker = short", wrongly
    feed(model, rows)
    feed(default, rows)
    # a row cut at 3 tokens is longer than nothing here (every finished answer is 2-59 tokens, and 3 is not 1.2x
    # longer than 2): it is in no decided pair, so its marker weight never moved
    assert model.coef[bucket] == 0.0 and default.coef[bucket] == 0.0
    probe = planted(held_out[:100], seed=1)[0]
    assert abs(auc(score(model, probe), probe) - 0.5) < 0.15


def test_state_round_trip_keeps_scores(sharegpt_small: tuple[list[LengthExample], ...], tmp_path: Path) -> None:
    train, held_out = sharegpt_small
    model = OnlineLinear(OnlineConfig(n_features=2**14))
    feed(model, planted(train[:96], seed=0))
    path = save_state(tmp_path / "online.npz", model, {"blend": {"weight": 0.5}})
    again = OnlineLinear(OnlineConfig(n_features=2**14))
    assert load_state(path, again)["blend"] == {"weight": 0.5}
    probe = [str(e.prompt) for e in held_out[:20]]
    assert np.array_equal(score(again, probe), score(model, probe)) and again.num_rows == 96
    assert again.base_sd == model.base_sd != 1.0  # the shipped scores' spread it learned with
    with pytest.raises(UserError, match=r"n_features=16384.*online_n_features"):
        load_state(path, OnlineLinear(OnlineConfig(n_features=2**15)))
    with pytest.raises(UserError, match=r"online\.npz: saved with online_residual 1, not 0"):
        load_state(path, OnlineLinear(OnlineConfig(n_features=2**14, residual=0.0)))
    (tmp_path / "junk.npz").write_text("not numpy")
    with pytest.raises(UserError, match=r"junk\.npz: not an online-ranker state"):
        load_state(tmp_path / "junk.npz", again)


def test_scores_come_from_the_mean_of_the_recent_iterates(sharegpt_small: tuple[list[LengthExample], ...]) -> None:
    train, held_out = sharegpt_small
    model = OnlineLinear(OnlineConfig(n_features=2**12, average_steps=4, residual=0.0))
    iterates: list[np.ndarray] = []
    take_step = model._step

    def recorded() -> None:  # the iterate after each step that moved the weights
        before = model.num_steps
        take_step()
        if model.num_steps > before:
            iterates.append(model.coef.copy())

    model._step = recorded  # type: ignore[method-assign]
    feed(model, planted(train[:16], seed=0))  # 16 rows x 4 passes / 32 per list: two steps
    assert len(iterates) == 2 and np.allclose(model.avg, np.mean(iterates, axis=0))
    feed(model, planted(train[16:160], seed=0))
    assert len(iterates) > 4
    expected = np.mean(iterates[:4], axis=0)  # uniform over the first average_steps, then a moving mean
    for it in iterates[4:]:
        expected += (it - expected) / 4
    assert np.allclose(model.avg, expected) and not np.allclose(model.avg, model.coef)
    probe = [str(e.prompt) for e in held_out[:20]]
    x = model._reader.features(probe)
    assert np.allclose(score(model, probe), -(x @ model.avg), atol=1e-4)
    model.cfg.average_steps = 0  # off: the last iterate scores
    assert np.allclose(score(model, probe), -(x @ model.coef), atol=1e-4)


def test_a_state_saved_before_averaging_loads_from_its_last_iterate(
        sharegpt_small: tuple[list[LengthExample], ...], tmp_path: Path) -> None:
    import json

    train, held_out = sharegpt_small
    model = OnlineLinear(OnlineConfig(n_features=2**12, residual=0.0))
    feed(model, planted(train[:96], seed=0))
    meta = {"version": 1, "config": {"n_features": 2**12}, "num_rows": 96}  # what version 1 wrote: no mean
    np.savez(tmp_path / "v1.npz", coef=model.coef, meta=np.array(json.dumps(meta)))
    again = OnlineLinear(OnlineConfig(n_features=2**12, residual=0.0))  # versions 1 and 2: models of their own
    load_state(tmp_path / "v1.npz", again)
    probe = [str(e.prompt) for e in held_out[:20]]
    assert again.num_rows == 96 and np.array_equal(again.avg, model.coef)
    assert np.allclose(score(again, probe), -(again._reader.features(probe) @ model.coef), atol=1e-4)
    with pytest.raises(UserError, match="saved with online_residual 0, not 1"):
        load_state(tmp_path / "v1.npz", OnlineLinear(OnlineConfig(n_features=2**12)))


def test_the_blend_weight_follows_which_ranker_orders_recent_rows_better() -> None:
    rng = np.random.default_rng(0)
    lens = rng.integers(5, 500, size=300)
    cens = np.zeros(300, dtype=bool)
    good = -np.log(lens) + rng.normal(0, 0.3, 300)  # higher = shorter, mostly right
    noise = rng.normal(0, 1, 300)
    w, shift, scale, conc = choose(noise, good * 7.0, lens, cens)  # the online scores on another scale
    assert w >= 0.75 and conc > 0.8 and scale == pytest.approx(noise.std() / (good * 7.0).std())
    assert choose(good, noise, lens, cens)[0] == 0.0  # a useless online model gets nothing
    shipped = rng.normal(0, 1, 4)
    assert Blend(0.0, shift, scale, model=None).combine(shipped, ["a"] * 4) is shipped  # exactly the shipped


def test_a_noisy_copy_of_the_shipped_ranker_wins_weight_by_chance_only_without_the_margin() -> None:
    # An online model that knows nothing the shipped one does not (its scores are the shipped scores plus noise)
    # can only make the order worse; on a 200-row window it still looks better by chance in some windows.
    picked = {0.0: 0, 2.0: 0}
    for seed in range(60):
        rng = np.random.default_rng(seed)
        lens = rng.integers(5, 500, size=200)
        shipped = -np.log(lens) + rng.normal(0, 1.0, 200)
        online = shipped + rng.normal(0, 1.0, 200)
        for z in picked:
            picked[z] += choose(shipped, online, lens, np.zeros(200, dtype=bool), margin_z=z)[0] > 0
    assert picked[0.0] >= 10  # 11 of 60 windows gave it weight with no margin (16 with pairs counted alike)
    assert picked[2.0] == 0


@pytest.mark.parametrize("weighted", [False, True])
def test_the_gain_standard_error_agrees_with_a_bootstrap(weighted: bool) -> None:
    rng = np.random.default_rng(0)
    lens = rng.integers(5, 768, size=400)
    cut = lens > 700  # capped rows: lower bounds, in fewer decided pairs
    a, b = -np.log(lens) + rng.normal(0, 1.5, 400), -np.log(lens) + rng.normal(0, 1.6, 400)
    _, se = paired_gain(a, b, lens, cut, ratio=1.2, weighted=weighted)
    draws = [rng.integers(0, 400, size=400) for _ in range(200)]
    boot = np.std([paired_gain(a[i], b[i], lens[i], cut[i], ratio=1.2, weighted=weighted)[0] for i in draws])
    assert 0.8 < se / boot < 1.25
    assert paired_gain(a, a, lens, cut, weighted=weighted) == (0.0, 0.0)  # against itself: no gain, no spread
    assert paired_gain(a, b, np.full(400, 7), cut, weighted=weighted) == (0.0, 0.0)  # no decided pair


def test_a_pair_weighs_what_serving_it_in_the_wrong_order_costs() -> None:
    cost = interchange_cost(np.array([10, 20, 0]))
    # 10 before 20: fine. 20 before 10: the short one waits 20 steps over 10 tokens (+2 per token), the long one
    # waits 10 fewer over 20 (-0.5): 1.5. A length of 0 counts as 1.
    assert cost[0, 1] == pytest.approx(1.5) and cost[1, 0] == pytest.approx(-1.5) and cost[0, 0] == 0.0
    assert cost[2, 0] == pytest.approx(10 - 0.1)


def test_the_weight_is_chosen_by_latency_not_by_pairs_counted_alike() -> None:
    # The online model orders the 160 long answers perfectly and puts a third of the 40 short ones behind them.
    # Blended half and half with the shipped ranker (noisy among long answers) it orders more pairs right, but the
    # ones it gets wrong are short answers, which per-token latency weighs most.
    rng = np.random.default_rng(1)
    lens = np.concatenate([rng.integers(4, 20, size=40), rng.integers(200, 760, size=160)])
    shipped = np.concatenate([-np.log(lens[:40]), -np.log(lens[40:]) + rng.normal(0, 0.3, 160)])
    online = -np.log(lens).astype(np.float64)
    online[:40:3] = -np.log(2000.0)  # a third of the short answers ranked after every long one
    cut = np.zeros(200, dtype=bool)
    half = 0.5 * shipped + 0.5 * (shipped.mean() + shipped.std() * (online - online.mean()) / online.std())
    plain, se = paired_gain(half, shipped, lens, cut)
    weighted, weighted_se = paired_gain(half, shipped, lens, cut, weighted=True)
    assert plain - 2 * se > 0.02  # pairs counted alike: better, beyond the margin (the old rule gave it weight)
    assert weighted - 2 * weighted_se < 0  # by what misordering costs: no better than the shipped order
    assert choose(shipped, online, lens, cut)[0] == 0.0


@pytest.mark.parametrize("cfg", [OWN, OnlineConfig()], ids=["own", "correction"])
def test_an_update_scores_rows_before_learning_them_and_keeps_those_with_a_shipped_score(
        sharegpt_small: tuple[list[LengthExample], ...], cfg: OnlineConfig) -> None:
    from collections import deque
    from dataclasses import replace

    from ltrsched.predictor.blend import learn_and_blend

    texts, lens, censored = planted(sharegpt_small[0][:240], seed=3)
    model = OnlineLinear(replace(cfg, n_features=2**14))
    window = deque[tuple[float, float, int, bool]](maxlen=200)
    feed(model, (texts[:120], lens[:120], censored[:120]))
    shipped = [float(-n) if i % 3 else None for i, n in enumerate(lens[120:])]  # a third finished unscored
    kept = [i for i, s in enumerate(shipped) if s is not None]
    before = model.snapshot().score([texts[120 + i] for i in kept], [shipped[i] for i in kept])  # not learned yet
    blend = learn_and_blend(model, window, texts[120:], lens[120:], censored[120:], shipped, min_rows=50)
    # a model of its own learns every row; a correction to the shipped score only rows whose shipped score it has
    assert model.num_rows == (240 if cfg.residual == 0 else 200) and len(window) == len(kept) == 80
    assert [o for _, o, _, _ in window] == pytest.approx([float(b) for b in before], rel=1e-5)  # out of sample
    assert [n for _, _, n, _ in window] == [lens[120 + i] for i in kept]
    assert blend.weight == 0.0 and blend.num_rows == model.num_rows  # -length is the truth itself: nothing beats it
    small = learn_and_blend(model, deque(maxlen=200), texts[:10], lens[:10], censored[:10], [0.0] * 10, min_rows=50)
    assert small.weight == 0.0 and small.concordance == 0.5  # below min_rows: the shipped ranker alone
