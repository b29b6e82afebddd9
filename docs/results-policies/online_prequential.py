"""What the online ranker would have ranked by, request by request, on a labelled stream (docs/results.md, 2026-12-07).

Replays a label file (``ltrsched label``) in order, 16 finished rows per update as ``bench online-curve`` does.
Each row is first scored as it would have been on arrival: by the blend published before it finished, which is
the online model as it stood (an out-of-sample score) mixed with the shipped ranker at the weight chosen on the
window of earlier rows. The gain over the shipped ranker is 2C - 1 of those scores minus the shipped ranker's,
over the decided pairs within each block of 200 rows after the first 200 (``blend.paired_gain``), counting every
pair alike ("plain") or by what misordering it costs mean per-token latency ("latency-weighted",
``blend.interchange_cost``: what the blend's weight is chosen by).

    python docs/results-policies/online_prequential.py data/smollm2-natural-train.jsonl [--ranker DIR]
    python docs/results-policies/online_prequential.py val.jsonl --start-state runs/online-train-res.npz

Variants: the online model as a correction to the shipped score (``residual`` 1) or a model of its own
(``residual`` 0), at several SGD steps, gated by the blend's margin (0, 1, 2 standard errors) or used alone
("ungated": weight 1 always). With ``--start-state`` only the default variant runs, from that saved state.
"""

from __future__ import annotations

import argparse
from collections import deque

import numpy as np

from ltrsched.predictor import default_ranker, load_ranker
from ltrsched.predictor.blend import choose, from_header, paired_gain
from ltrsched.predictor.curve import read_stream
from ltrsched.predictor.online import PAIR_RATIO, OnlineConfig, OnlineLinear, load_state

BATCH, BLOCK, WINDOW, MIN_ROWS = 16, 200, 512, 100


def replay(stream, shipped: np.ndarray, cfg: OnlineConfig, margins: list[float | None],
           start_state: str = "") -> dict[float | None, np.ndarray]:
    """Arrival scores of every row for each margin (None: the online model alone, ungated)."""
    model = OnlineLinear(cfg)
    n = len(shipped)
    window: deque[tuple[float, float, int, bool]] = deque(maxlen=WINDOW)
    blends = {m: (0.0, 0.0, 0.0) for m in margins}
    if start_state:
        blend, saved = from_header(load_state(start_state, model), model)
        window.extend(saved)
        blends = {m: (blend.weight if m is not None else 1.0, blend.shift, blend.scale) for m in margins}
    ranked = {m: np.zeros(n) for m in margins}
    lens, cut = stream.lens, stream.censored
    for lo in range(0, n, BATCH):
        hi = min(n, lo + BATCH)
        before = model.learn(stream.texts[lo:hi], lens[lo:hi].tolist(), cut[lo:hi].tolist(), shipped[lo:hi])
        for m, (w, shift, scale) in blends.items():
            ranked[m][lo:hi] = (1 - w) * shipped[lo:hi] + w * (shift + scale * before)
        window.extend(zip(shipped[lo:hi].tolist(), before.tolist(), lens[lo:hi].tolist(), cut[lo:hi].tolist(),
                          strict=True))
        if len(window) >= MIN_ROWS:
            s, o, ln, c = (np.array(col) for col in zip(*window, strict=True))
            for m in margins:
                w, shift, scale, _ = choose(s, o, ln, c.astype(bool), PAIR_RATIO, m if m is not None else 0.0)
                blends[m] = (1.0 if m is None else w, shift, scale)
    return ranked


def report(name: str, ranked: np.ndarray, shipped: np.ndarray, stream, first: int) -> None:
    cells = []
    for weighted in (False, True):
        gains = [2 * paired_gain(ranked[a:a + BLOCK], shipped[a:a + BLOCK], stream.lens[a:a + BLOCK],
                                 stream.censored[a:a + BLOCK], weighted=weighted)[0]
                 for a in range(first, len(shipped) - BLOCK + 1, BLOCK)]
        se = np.std(gains) / np.sqrt(len(gains))
        cells += [f"{np.mean(gains):+.4f} ± {se:.4f}", f"{sum(g > 0 for g in gains)}/{len(gains)}"]
    print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("labels")
    ap.add_argument("--ranker", default="", help="the shipped ranker (default: the default ranker)")
    ap.add_argument("--start-state", default="", help="an online_state to start from (the default variant only)")
    args = ap.parse_args()
    stream = read_stream(args.labels)
    shipped = np.asarray((load_ranker(args.ranker) if args.ranker else default_ranker()).score(stream.texts),
                         dtype=np.float64)
    print("| variant | plain gain in 2C - 1 over the shipped ranker (mean ± SE of blocks) | blocks ahead | "
          "latency-weighted gain | blocks ahead |")
    print("|---|---|---|---|---|")
    if args.start_state:
        ranked = replay(stream, shipped, OnlineConfig(), [0.0, 1.0, 2.0, None], args.start_state)
        for m in (0.0, 1.0, 2.0, None):
            label = "ungated" if m is None else f"margin {m:g}"
            report(f"correction, step 5, {label} (from the state)", ranked[m], shipped, stream, 0)
        return
    variants = [("model of its own, step 50", OnlineConfig(residual=0.0, learning_rate=50.0)),
                ("correction, step 5 (default)", OnlineConfig()),
                ("correction, step 20", OnlineConfig(learning_rate=20.0)),
                ("correction, step 50", OnlineConfig(learning_rate=50.0)),
                ("correction x0.5, step 10", OnlineConfig(residual=0.5, learning_rate=10.0))]
    for name, cfg in variants:
        ranked = replay(stream, shipped, cfg, [0.0, 1.0, 2.0, None])
        for m in (0.0, 1.0, 2.0, None):
            report(f"{name}, {'ungated' if m is None else f'margin {m:g}'}", ranked[m], shipped, stream, BLOCK)


if __name__ == "__main__":
    main()
