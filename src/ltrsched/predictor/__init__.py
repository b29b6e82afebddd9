"""The output-length ranker: data, losses, training, evaluation and scoring (higher score = shorter output).

``load_ranker(path)`` opens any saved ranker (transformer or fast tier, by its manifest); ``default_ranker()``
opens the one in ``ltrsched.paths.default_ranker_dir()``; ``ensure_default_ranker()`` trains it first if missing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ltrsched.errors import MissingModelError
from ltrsched.paths import default_ranker_dir
from ltrsched.predictor.ranker import Ranker, read_manifest

HOW_TO_GET = ("train it with `ltrsched train --preset default` (~25 min here) or `ltrsched train --preset demo` "
              "(~5 min), or run `make demo`")


class Scorer(Protocol):
    """What every ranker offers: higher score = shorter expected output."""

    name: str
    manifest: dict[str, Any]

    def score(self, prompts: Sequence[Any]) -> np.ndarray: ...

    def predict_quantiles(self, prompts: Sequence[Any]) -> np.ndarray: ...


def load_ranker(path: str | Path, device: str = "cpu") -> Scorer:
    """Open a saved ranker folder, whatever its kind (``manifest.json``'s ``kind``)."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise MissingModelError(f"no ranker at {path}; {HOW_TO_GET} (or `ltrsched train --out {path}`)")
    manifest = read_manifest(path)
    kind = manifest.get("kind")
    if kind == "fast-linear":
        from ltrsched.predictor.fast import FastRanker

        return FastRanker.load(path)
    if kind == "ensemble":
        from ltrsched.predictor.ensemble import EnsembleRanker

        return EnsembleRanker.load(path, device)
    return Ranker.load(path, device)


def default_ranker(device: str = "cpu") -> Scorer:
    """The default ranker; ``MissingModelError`` says how to get it when it is not trained yet."""
    path = default_ranker_dir()
    if not (path / "manifest.json").is_file():
        raise MissingModelError(f"the default ranker is not trained yet ({path}); {HOW_TO_GET}")
    return load_ranker(path, device)


def ensure_default_ranker(progress: bool = True) -> Scorer:
    """The default ranker, training the demo-sized configuration first if none exists (it says so on stderr)."""
    path = default_ranker_dir()
    if not (path / "manifest.json").is_file():
        from ltrsched.predictor.presets import train_preset

        print("ltrsched: no default ranker yet; training the demo configuration (MiniLM reading head + tail, "
              "fine-tuned with ListMLE for 4 min, plus the fast tier: ~6 min on 2 cores; the progress bar's ETA is "
              "for a whole epoch). For the full ranker run `ltrsched train --preset default`.", file=sys.stderr,
              flush=True)
        train_preset("demo", out=path, progress=progress)
    return default_ranker()


__all__ = ["HOW_TO_GET", "Ranker", "Scorer", "default_ranker", "ensure_default_ranker", "load_ranker"]
