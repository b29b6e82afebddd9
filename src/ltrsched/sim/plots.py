"""Figures a person reads: latency vs request rate per policy (the paper's Fig. 3), or, at one load, per-token
latency CDFs and mean bars per policy; and tau vs latency for a sweep of ``--scores tau:X`` runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ltrsched.report import new_figure, save_figure


def plot_document(doc: dict[str, Any], path: str | Path) -> None:
    rows = doc["results"]
    fig, axes = new_figure(2, figsize=(11, 4))
    if any("rate" in r for r in rows):
        for policy in dict.fromkeys(r["policy"] for r in rows):
            mine = sorted((r for r in rows if r["policy"] == policy), key=lambda r: r["rate"])
            rates = [r["rate"] for r in mine]
            axes[0].plot(rates, [r["mean_per_token_latency"] for r in mine], marker="o", label=policy)
            axes[1].plot(rates, [r["mean_max_waiting_time"] for r in mine], marker="o", label=policy)
        for ax, what in zip(axes, ("mean per-token latency (s/token)", "mean max waiting time (s)"), strict=True):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("request rate (req/s)")
            ax.set_ylabel(what)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
    else:  # one load: the CDF of per-token latency per policy, and the means side by side
        for r in rows:
            q = r.get("per_token_latency_quantiles") or []
            if q:
                axes[0].plot(q, [i / (len(q) - 1) for i in range(len(q))], label=r["policy"])
        axes[0].set_xscale("log")
        axes[0].set_xlabel("per-token latency (s/token, log)")
        axes[0].set_ylabel("fraction of requests")
        axes[0].grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        names = [r["policy"] for r in rows]
        axes[1].barh(names, [r["mean_per_token_latency"] for r in rows])
        axes[1].set_xlabel("mean per-token latency (s/token)")
        axes[1].invert_yaxis()
        axes[1].grid(alpha=0.3, axis="x")
    wl = doc["workload"]
    fig.suptitle(f"{wl['workload']} of {wl['num_items']} {wl['data']} requests, cost {doc['cost']['name']}, "
                 f"scores {doc['scores']} (tau {doc['kendall_tau']:.2f})", fontsize=10)
    save_figure(fig, path)


def plot_tau_sweep(points: Sequence[tuple[float, float]], fcfs: float, path: str | Path) -> None:
    """(measured tau, mean per-token latency) pairs, with FCFS as a horizontal line (the paper's Fig. 2b)."""
    fig, ax = new_figure(figsize=(5, 4))
    xs, ys = zip(*sorted(points), strict=True)
    ax.plot(xs, ys, marker="o", label="ltr with tau:X scores")
    ax.axhline(fcfs, color="gray", linestyle="--", label="fcfs")
    ax.set_xlabel("Kendall tau of the scores")
    ax.set_ylabel("mean per-token latency (s/token)")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)
