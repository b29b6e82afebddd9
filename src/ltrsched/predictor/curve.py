"""The online ranker's learning curve on a stream of served requests (``ltrsched bench online-curve``).

A labelled file (``ltrsched label``: the served model's own lengths) is replayed as the engine would see it: rows
finish in file order, the learner takes them ``batch`` at a time and runs the plugin's own update
(``blend.learn_and_blend``: scored before it learns them, kept in the blend window with the shipped ranker's score,
a blend chosen on the window). After every ``every`` rows served, the next ``eval_rows`` rows
(not learned yet) are ranked by: the shipped ranker; the online model (by default the shipped score plus its
learned correction) at full weight; the blend the engine would rank by;
the fast tier trained offline on every row served so far (the "offline ranker on as many served labels"); and,
where the file has a second sample of each prompt, that sample's length (the two-sample figure). With
``start_state`` the learner starts from a saved ``online_state`` (what an engine restarted with it would rank by),
so a state learned on one stream is tested on another it never saw.

Quality is 2C - 1 over the window's decided pairs (``censor.concordance``: a capped row is a lower bound, so a pair
it cannot order is left out), which equals Kendall's tau-a on uncensored rows without ties.
"""

from __future__ import annotations

import json
import textwrap
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltrsched.errors import UserError
from ltrsched.predictor.blend import MARGIN_Z, blend_on_window, from_header, learn_and_blend, to_header
from ltrsched.predictor.censor import concordance
from ltrsched.predictor.data import LengthExample, jsonl_lines, parse_row, prompt_text, row_censored
from ltrsched.predictor.online import (
    LEARNING_RATE,
    PAIR_RATIO,
    RESIDUAL,
    OnlineConfig,
    OnlineLinear,
    load_state,
    save_state,
)

COLUMNS = ("served", "shipped", "online", "blend", "blend_weight", "offline_fast", "two_sample")


@dataclass(slots=True)
class CurveConfig:
    labels: str = ""  # label JSONL (ltrsched label); sample 0 is the stream, sample 1 (if any) the two-sample figure
    ranker: str = ""  # the shipped ranker (a folder; "" = the default ranker)
    every: int = 200  # rows served between evaluations
    eval_rows: int = 200  # the next rows each evaluation ranks
    batch: int = 16  # rows per learner update (the plugin learns what finished within 0.5 s, at most 64)
    learning_rate: float = LEARNING_RATE  # the plugin's online_learning_rate
    residual: float = RESIDUAL  # the plugin's online_residual
    window: int = 512  # the plugin's online_window
    min_rows: int = 100  # the plugin's online_min_rows
    margin: float = MARGIN_Z  # the plugin's online_margin
    n_features: int = 2**18  # the plugin's online_n_features
    offline: bool = True  # also train the fast tier offline at each evaluation (seconds each)
    save_state: str = ""  # after the curve, learn the rest of the stream and save the plugin's online_state here
    start_state: str = ""  # start from this online_state (its model, blend and window) instead of from nothing
    out_dir: str = "runs/online-curve"  # CSV and plot


@dataclass(slots=True)
class Stream:
    """The replayed requests: prompt text, served length, whether capped, and a second sample's length (or -1)
    and whether it was capped."""

    texts: list[str]
    lens: np.ndarray
    censored: np.ndarray
    second: np.ndarray
    second_censored: np.ndarray


def read_stream(path: str | Path) -> Stream:
    """Sample 0 of each prompt in file order; a bad line is named by file and line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--labels {str(path)!r}: no such file; write one with `ltrsched label`")
    first: dict[str, tuple[str, int, bool]] = {}
    second: dict[str, tuple[int, bool]] = {}
    for lineno, line in jsonl_lines(path):
        try:
            row = json.loads(line)
            prompt, n, _ = parse_row(row)  # the training loader's checks: a file that trains also replays
            if n is None:
                raise ValueError("missing 'output_len' (a label file has lengths, not response texts)")
            key, sample, censored = str(row["id"]), int(row.get("sample", 0)), row_censored(row)
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{path}:{lineno}: not a label row ({exc})") from None
        if sample == 0:
            first[key] = (prompt_text(prompt), n, censored)
        elif sample == 1:
            second[key] = (n, censored)
    if not first:
        raise UserError(f"{path}: no rows of sample 0")
    keys = list(first)
    return Stream(texts=[first[k][0] for k in keys], lens=np.array([first[k][1] for k in keys]),
                  censored=np.array([first[k][2] for k in keys], dtype=bool),
                  second=np.array([second.get(k, (-1, False))[0] for k in keys]),
                  second_censored=np.array([second.get(k, (-1, False))[1] for k in keys], dtype=bool))


def quality(scores: np.ndarray, lens: np.ndarray, censored: np.ndarray) -> float:
    """2C - 1 over the decided pairs (higher score = shorter)."""
    return 2.0 * concordance(np.asarray(scores, dtype=np.float64), lens, censored) - 1.0


def offline_fast(stream: Stream, n: int) -> Any:
    """The fast tier trained on the first ``n`` rows (the last fifth picks its regularization)."""
    from ltrsched.predictor.fast import FastRanker

    rows = [LengthExample(id=str(i), prompt=stream.texts[i], output_len=int(stream.lens[i]), prompt_len=0,
                          censored=bool(stream.censored[i])) for i in range(n)]
    cut = max(1, int(0.8 * n))
    return FastRanker.train(rows[:cut], rows[cut:] or rows[:cut])


class Replay:
    """The online learner as the plugin runs it, fed the stream's rows in order, ``batch`` at a time."""

    def __init__(self, cfg: CurveConfig, shipped_scores: np.ndarray, stream: Stream) -> None:
        self.cfg, self.shipped_scores, self.stream = cfg, shipped_scores, stream
        self.model = OnlineLinear(OnlineConfig(n_features=cfg.n_features, learning_rate=cfg.learning_rate,
                                               residual=cfg.residual))
        self.window: deque[tuple[float, float, int, bool]] = deque(maxlen=cfg.window)
        self.blend = blend_on_window(self.window, cfg.min_rows, self.model, PAIR_RATIO, cfg.margin)
        if cfg.start_state:  # as the plugin starts from online_state: the saved model, blend and window
            if not Path(cfg.start_state).is_file():
                raise UserError(f"--start-state {cfg.start_state!r}: no such file; write one with --save-state")
            self.blend, window = from_header(load_state(cfg.start_state, self.model), self.model)
            self.window.extend(window)
        self.served = 0

    def serve_until(self, n: int) -> None:
        """Learn rows up to ``n`` (each scored before it is learned, kept in the blend window) and re-blend."""
        s = self.stream
        while self.served < n:
            lo, hi = self.served, min(n, self.served + self.cfg.batch)
            self.blend = learn_and_blend(self.model, self.window, s.texts[lo:hi], s.lens[lo:hi].tolist(),
                                         s.censored[lo:hi].tolist(), self.shipped_scores[lo:hi].tolist(),
                                         self.cfg.min_rows, PAIR_RATIO, self.cfg.margin)
            self.served = hi

    def save(self, path: str | Path) -> Path:
        """The plugin's ``online_state`` file: an engine started with it ranks as this replay ends."""
        return save_state(path, self.model, to_header(self.blend, self.window))


def learning_curve(cfg: CurveConfig, shipped: Any, stream: Stream, progress: Any = None) -> list[dict[str, float]]:
    """One row per evaluation point (``COLUMNS``); with ``cfg.save_state``, the state after the whole stream."""
    if cfg.every < 1 or cfg.eval_rows < 2 or cfg.batch < 1:
        raise UserError(f"--every, --eval-rows and --batch must be >= 1, 2 and 1; got {cfg.every}, "
                        f"{cfg.eval_rows}, {cfg.batch}")
    total = len(stream.texts)
    if total < cfg.eval_rows + cfg.every:
        raise UserError(f"{total} labelled prompts: need at least --every + --eval-rows = "
                        f"{cfg.every + cfg.eval_rows}")
    shipped_scores = np.asarray(shipped.score(stream.texts), dtype=np.float64)
    replay = Replay(cfg, shipped_scores, stream)
    out: list[dict[str, float]] = []
    for point in range(0, total - cfg.eval_rows + 1, cfg.every):
        replay.serve_until(point)
        idx = slice(point, point + cfg.eval_rows)
        texts, lens, cut = stream.texts[idx], stream.lens[idx], stream.censored[idx]
        row = {"served": float(point), "shipped": quality(shipped_scores[idx], lens, cut),
               "online": quality(replay.model.snapshot().score(texts, shipped_scores[idx]), lens, cut),
               "blend": quality(replay.blend.combine(shipped_scores[idx], texts), lens, cut),
               "blend_weight": replay.blend.weight, "offline_fast": float("nan"), "two_sample": float("nan")}
        if cfg.offline and point >= 50:
            row["offline_fast"] = quality(offline_fast(stream, point).score(texts), lens, cut)
        second = stream.second[idx]
        if (second >= 0).all():
            row["two_sample"] = quality(-second.astype(np.float64), lens, cut)
        out.append(row)
        if progress is not None:
            progress(row)
    if cfg.save_state:
        replay.serve_until(total)
        replay.save(cfg.save_state)
    return out


def format_curve(rows: Sequence[dict[str, float]], title: str) -> str:
    lines = [title, "served | shipped | online | blend (weight) | offline fast tier | two samples",
             "---|---|---|---|---|---"]
    for r in rows:
        lines.append(f"{int(r['served'])} | {r['shipped']:.3f} | {r['online']:.3f} | {r['blend']:.3f} "
                     f"({r['blend_weight']:.2f}) | {r['offline_fast']:.3f} | {r['two_sample']:.3f}")
    return "\n".join(lines)


def write_curve(rows: Sequence[dict[str, float]], out_dir: str | Path, title: str,
                eval_rows: int) -> tuple[Path, Path]:
    """CSV and a PNG of quality vs requests served."""
    import csv

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "online-curve.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    xs = [r["served"] for r in rows]
    for key, label in (("shipped", "shipped ranker"), ("online", "online model, full weight"),
                       ("blend", "blend (what ranks)"), ("offline_fast", "fast tier trained offline on as many"),
                       ("two_sample", "second sample")):
        ys = [r[key] for r in rows]
        if not all(np.isnan(ys)):
            ax.plot(xs, ys, marker="o", ms=3, label=label)
    ax.set_xlabel("requests served")
    ax.set_ylabel(f"2C - 1 on the next {eval_rows} requests")
    ax.set_title(textwrap.fill(title, 80), fontsize=9)  # a label file's path makes it long
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    png = out / "online-curve.png"
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return csv_path, png
