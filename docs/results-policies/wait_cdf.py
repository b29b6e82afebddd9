"""The longest-wait CDF (the paper's Fig. 3 style): per request max(TTFT, largest inter-token gap), per policy.

Usage: PYTHONPATH=src python docs/results-policies/wait_cdf.py OUT.png RATE PREEMPTION POLICY...
(Poisson RATE req/s, 2,000 ShareGPT requests, llama3-8b-a100, noise-model scores tau:0.40, seed 0.)
"""

from __future__ import annotations

import sys

import numpy as np

from ltrsched.policies import PolicyConfig
from ltrsched.report import new_figure, save_figure
from ltrsched.sim.engine import EngineConfig
from ltrsched.sim.run import load_cost, simulate
from ltrsched.sim.scores import make_scores
from ltrsched.sim.workload import load_items, with_arrivals


def main() -> None:
    out, rate, preemption, policies = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4:]
    items = load_items("sharegpt", 2000, None, 0, paper_filter=True)
    scores = make_scores("tau:0.40", items, 0, False)
    group = with_arrivals(items, "poisson", rate, 1.0, 0)
    fig, axes = new_figure(2, figsize=(11, 4))
    for spec in policies:
        result = simulate(PolicyConfig.parse(spec), group, scores, load_cost("llama3-8b-a100"),
                          EngineConfig(preemption=preemption))
        waits = np.sort([r.max_waiting_time_s for r in result.records])
        cdf = np.arange(1, waits.size + 1) / waits.size
        for ax in axes:
            ax.plot(waits, cdf, label=spec)
    axes[0].set_xscale("log")
    axes[1].set_ylim(0.95, 1.0005)
    for ax, title in zip(axes, ("all requests", "the top 5%"), strict=True):
        ax.set_xlabel("longest wait: max(TTFT, largest inter-token gap) (s)")
        ax.set_ylabel("fraction of requests")
        ax.set_title(f"Poisson {rate:g} req/s, {preemption}: {title}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    save_figure(fig, out)


if __name__ == "__main__":
    main()
