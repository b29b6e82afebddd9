"""How a saved online state's blends order held-out served lengths, plain and latency-weighted (docs/results.md).

Scores a label file (the rows ``bench serve --lengths natural`` writes as ``{pattern}-labels.jsonl``, prompts the
state never learned from) by the shipped ranker, by any other rankers named, and by the blend of the shipped
ranker with the state's online model at each weight the plugin may choose (the state's own shift and scale). Two
columns: 2C - 1 over the decided pairs with every pair alike, and with each pair counted by what serving it in the
wrong order costs mean per-token latency (``blend.interchange_cost``: what the blend's weight is chosen by).

    python docs/results-policies/online_heldout.py runs/.../poisson-0.33-r1-labels.jsonl runs/online-train-wtd.npz \
        --ranker runs/smol-ranker
"""

from __future__ import annotations

import argparse

import numpy as np

from ltrsched.predictor import default_ranker, load_ranker
from ltrsched.predictor.blend import WEIGHTS, from_header, paired_gain
from ltrsched.predictor.curve import read_stream
from ltrsched.predictor.online import OnlineConfig, OnlineLinear, load_state


def quality(scores: np.ndarray, lens: np.ndarray, censored: np.ndarray, weighted: bool) -> float:
    """2C - 1 over the decided pairs, every pair alike or by its interchange cost: the gain over a constant score
    (every pair a tie, concordance 0.5), by the blend's own ``paired_gain``."""
    return 2.0 * paired_gain(scores, np.zeros(len(scores)), lens, censored, weighted=weighted)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("labels")
    ap.add_argument("state", help="an online_state file")
    ap.add_argument("--ranker", action="append", default=[], help="another ranker folder to report beside")
    args = ap.parse_args()
    stream = read_stream(args.labels)
    lens, cut = stream.lens.astype(np.float64), stream.censored
    shipped = np.asarray(default_ranker().score(stream.texts), dtype=np.float64)
    model = OnlineLinear(OnlineConfig())  # the plugin's defaults, as `bench online-curve --save-state` writes
    blend, _ = from_header(load_state(args.state, model), model)
    online = blend.shift + blend.scale * blend.model.score(stream.texts, shipped)
    print(f"{args.labels}: {len(lens)} requests ({int(cut.sum())} capped); state {args.state}: "
          f"{model.num_rows} rows learned, saved weight {blend.weight:g}")
    print("| ranks by | 2C - 1, pairs alike | 2C - 1, latency-weighted |")
    print("|---|---|---|")
    rows = [("shipped ranker", shipped)]
    rows += [(f"ranker {path}", np.asarray(load_ranker(path).score(stream.texts), dtype=np.float64))
             for path in args.ranker]
    rows += [(f"blend, weight {w:g}", (1 - w) * shipped + w * online) for w in WEIGHTS if w > 0]
    for name, scores in rows:
        print(f"| {name} | {quality(scores, lens, cut, False):.3f} | {quality(scores, lens, cut, True):.3f} |")


if __name__ == "__main__":
    main()
