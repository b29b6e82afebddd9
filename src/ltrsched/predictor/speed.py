"""Scoring speed and memory of one saved scorer, in a fresh process: what a server that loads it pays.

``speed(folder, prompts)`` runs ``python -m ltrsched.predictor.speed`` (this module, no heavy import at its top) and
returns prompts/s (best of ``repeats`` timed calls after one warm-up call) and the process's resident memory after
each stage: start, load (imports + weights), warm-up, timed scoring; ``peak_mb`` is VmHWM, the high-water mark, which
exec resets (``ru_maxrss`` would carry over the parent's). Variants side by side: ``precision`` sets
``$LTRSCHED_SCORER`` (int8 or fp32) in the child, ``threads`` its torch thread count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HEAVY = ("torch", "transformers", "sklearn", "scipy", "pandas")  # imports that cost resident memory, when present


def memory_mb() -> dict[str, float]:
    """This process's resident memory now (``rss``) and at its peak (``hwm``), in MB."""
    out: dict[str, float] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out["rss" if line.startswith("VmRSS") else "hwm"] = int(line.split()[1]) / 1024
    return out


def measure(path: str, prompts: Sequence[Any], repeats: int = 3, threads: int | None = None) -> dict[str, Any]:
    """Load ``path`` here and time ``score`` on ``prompts``; call in a fresh process (see ``speed``)."""
    stages = {"start": memory_mb()["rss"]}
    t0 = time.perf_counter()
    from ltrsched.predictor import load_ranker

    ranker = load_ranker(path)
    load_s = time.perf_counter() - t0
    if threads:
        import torch

        torch.set_num_threads(threads)
    stages["loaded"] = memory_mb()["rss"]
    ranker.score(list(prompts[:64]))
    stages["warm"] = memory_mb()["rss"]
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        ranker.score(list(prompts))
        best = max(best, len(prompts) / (time.perf_counter() - t))
    stages["scored"] = memory_mb()["rss"]
    return {"prompts_per_s": best, "peak_mb": memory_mb()["hwm"], "load_s": load_s, "rss_mb": stages,
            "prompts": len(prompts), "imported": [m for m in HEAVY if m in sys.modules]}


def speed(path: str | Path, prompts: Sequence[Any], repeats: int = 3, precision: str | None = None,
          threads: int | None = None) -> dict[str, Any]:
    """``measure`` in a fresh Python process (same interpreter and environment, plus ``precision``)."""
    from ltrsched.predictor.ranker import PRECISION_ENV

    env = dict(os.environ)
    if precision:
        env[PRECISION_ENV] = precision
    cmd = [sys.executable, "-m", "ltrsched.predictor.speed", str(path), str(repeats), str(threads or 0)]
    run = subprocess.run(cmd, input=json.dumps(list(prompts)), capture_output=True, text=True, env=env, check=False)
    if run.returncode != 0:
        raise RuntimeError(f"scoring {path} in a child process failed: {run.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    result["precision"], result["threads"] = precision or "default", threads or 0
    return result


def main() -> None:
    path, repeats, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(measure(path, json.load(sys.stdin), repeats, threads or None)))


if __name__ == "__main__":
    main()
