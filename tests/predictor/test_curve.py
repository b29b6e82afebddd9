"""The learning curve replays a labelled stream: the online ranker learns a planted rule the shipped one lacks."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ltrsched.cli import main
from ltrsched.errors import UserError
from ltrsched.predictor.blend import from_header
from ltrsched.predictor.curve import CurveConfig, learning_curve, read_stream
from ltrsched.predictor.data import LengthExample
from ltrsched.predictor.online import OnlineConfig, OnlineLinear, load_state
from tests.predictor.test_online import planted


class PromptLengthRanker:
    """A shipped ranker that knows only prompt length (shorter prompt = shorter answer): blind to the rule."""

    def score(self, prompts: Sequence[Any]) -> np.ndarray:
        return -np.array([len(str(p)) for p in prompts], dtype=np.float64)


def write_labels(path: Path, examples: list[LengthExample], samples: int = 1) -> tuple[list[str], list[int]]:
    """A label file as `ltrsched label` writes it, lengths by the planted rule (1 in 6 capped, as censored)."""
    texts, lens, _ = planted(examples, seed=3)
    with path.open("w", encoding="utf-8") as fh:
        for i, (text, n) in enumerate(zip(texts, lens, strict=True)):
            for s in range(samples):
                capped = i % 6 == 5
                fh.write(json.dumps({"id": f"p{i}", "messages": [{"role": "user", "content": text}],
                                     "output_len": 60 if capped else n + s, "sample": s,
                                     "finish_reason": "length" if capped else "stop"}) + "\n")
    return texts, lens


@pytest.mark.parametrize(("residual", "floor"), [(0.0, 0.3), (1.0, 0.1)], ids=["own", "correction"])
def test_the_online_ranker_overtakes_a_blind_shipped_ranker(tmp_path: Path,
                                                             sharegpt_small: tuple[list[LengthExample], ...],
                                                             residual: float, floor: float) -> None:
    train, test = sharegpt_small
    labels = tmp_path / "labels.jsonl"
    write_labels(labels, train + test, samples=2)  # 480 prompts
    stream = read_stream(labels)
    assert len(stream.texts) == 480 and stream.censored.sum() == 80 and (stream.second >= 0).all()
    state = tmp_path / "online.npz"
    # A rule this strong, against a shipped ranker worth nothing (2C - 1 of -0.16 to 0 here), is learned faster at
    # a step of 50 than at the default 5 (which suits the small corrections real traffic needs); a correction to
    # that ranker learns it more slowly than a model of its own, which need not undo the shipped order first.
    cfg = CurveConfig(every=80, eval_rows=80, save_state=str(state), learning_rate=50.0, residual=residual)
    rows = learning_curve(cfg, PromptLengthRanker(), stream)
    assert [r["served"] for r in rows] == [0, 80, 160, 240, 320, 400]
    first, last = rows[0], rows[-1]
    assert first["blend"] == first["shipped"]  # nothing learned: the shipped order
    assert first["online"] == (0.0 if residual == 0 else first["shipped"])  # all ties, or the shipped order
    # Half the decided pairs cross the rule (marker answers 2-5 tokens, the rest 30-59), the rest are noise, so a
    # ranker that knows the rule and nothing else scores about 0.5.
    assert last["online"] > floor and last["blend"] > last["shipped"] + 0.2 and last["blend_weight"] > 0
    assert last["offline_fast"] > 0.3  # the fast tier trained on the same 400 rows learns the rule too
    assert math.isnan(first["offline_fast"])  # nothing to train on before any row is served
    assert all(r["two_sample"] > 0.8 for r in rows)  # the second sample is the first plus one token
    model = OnlineLinear(OnlineConfig(learning_rate=50.0, residual=residual))  # what an engine would start from
    blend, window = from_header(load_state(state, model), model)
    assert model.num_rows == 480 and len(window) == 480  # the whole stream, not only up to the last evaluation
    assert blend.weight > 0 and np.count_nonzero(model.coef) > 100
    # the state, started from on a stream it never saw (the same rule, other prompts), ranks from its first row
    other = tmp_path / "other.jsonl"
    write_labels(other, train[::-1] + test[::-1])
    again = learning_curve(CurveConfig(every=80, eval_rows=80, learning_rate=50.0, residual=residual,
                                       start_state=str(state), offline=False), PromptLengthRanker(),
                           read_stream(other))
    assert again[0]["blend_weight"] == blend.weight and again[0]["blend"] > again[0]["shipped"] + 0.2
    with pytest.raises(UserError, match=r"--start-state 'nowhere\.npz': no such file"):
        learning_curve(CurveConfig(start_state="nowhere.npz"), PromptLengthRanker(), stream)


def test_the_cli_writes_a_table_csv_and_plot_and_names_bad_rows(tmp_path: Path,
                                                                 sharegpt_small: tuple[list[LengthExample], ...],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    train, _ = sharegpt_small
    labels = tmp_path / "labels.jsonl"
    write_labels(labels, train)  # 320 prompts, one sample
    ranker = tmp_path / "fast"
    from ltrsched.predictor.fast import FastRanker

    FastRanker.train(train[:200], train[200:]).save(ranker)  # a real shipped ranker, ChatGPT lengths
    out = tmp_path / "curve"
    rc = main(["bench", "online-curve", "--labels", str(labels), "--ranker", str(ranker), "--every", "100",
               "--eval-rows", "100", "--out-dir", str(out), "--no-offline", "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "served | shipped | online" in printed and (out / "online-curve.png").stat().st_size > 1000
    csv_rows = (out / "online-curve.csv").read_text().splitlines()
    assert csv_rows[0].startswith("served,shipped,online,blend") and len(csv_rows) == 1 + 3

    with labels.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "bad", "messages": []}\n')  # no output_len
    with pytest.raises(UserError, match=r"labels\.jsonl:321: not a label row"):
        read_stream(labels)
    assert main(["bench", "online-curve", "--labels", str(tmp_path / "none.jsonl")]) == 2
    assert "none.jsonl" in capsys.readouterr().err


def test_a_prompt_holding_unicode_line_separators_stays_one_row(tmp_path: Path) -> None:
    from ltrsched.vllm.label import done_ids

    labels = tmp_path / "labels.jsonl"
    texts = ["plain prompt", "a line\u2028separator inside", "next\x85line and a\u2029paragraph", "last"]
    with labels.open("w", encoding="utf-8") as fh:  # as `ltrsched label` writes: ensure_ascii=False keeps them raw
        for i, text in enumerate(texts):
            fh.write(json.dumps({"id": f"p{i}", "messages": [{"role": "user", "content": text}],
                                 "output_len": 10 + i, "finish_reason": "stop", "sample": 0},
                                ensure_ascii=False) + "\n")
    assert len(labels.read_text(encoding="utf-8").splitlines()) > len(texts)  # what cut rows in two before
    stream = read_stream(labels)
    assert stream.texts[1].endswith("a line\u2028separator inside") and stream.lens.tolist() == [10, 11, 12, 13]
    assert done_ids(labels, samples=1) == {"p0", "p1", "p2", "p3"}  # --resume keeps all four
    labels.write_bytes(labels.read_bytes() + b'{"id": "p4", "messages": "\xff"}\n')
    with pytest.raises(UserError, match=r"labels\.jsonl:5: not UTF-8"):
        read_stream(labels)
