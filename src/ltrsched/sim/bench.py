"""``ltrsched bench sim``: the issue's targets, each run side by side in one process (ratios, not absolutes).

- burst: 2,000 ShareGPT requests at t=0, Llama-3-8B/A100 preset, FCFS vs LTR (with and without starvation
  prevention), MLFQ and the SRTF oracle;
- synthetic: first 1,000 of 10,000 (no filter) and finished in 300 s, FCFS vs LTR vs oracle;
- starvation: Poisson arrivals on the 70B preset, LTR without prevention, with it (promotions take the next free
  slot, the default) and with the paper's evicting promotions (the paper's fairness experiment);
- micro: the policy decision at 256 running + 10,000 waiting (RankedRequests.begin_step + victims + admission
  + end_step) against re-sorting everything each step.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from ltrsched.policies import PolicyConfig, make_policy
from ltrsched.report import ratio_name
from ltrsched.request import Request, Status
from ltrsched.sim.engine import EngineConfig
from ltrsched.sim.report import markdown_table
from ltrsched.sim.run import SimulateConfig, run_config


def micro(num_running: int = 256, num_waiting: int = 10_000, num_steps: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Per-step time of the LTR decision with starvation prevention on, and of a full re-sort for comparison."""
    rng = random.Random(seed)
    ranked = PolicyConfig.parse("ltr").build()  # starvation prevention on: 400 steps, quantum 10
    reqs = [Request(f"r{i}", 0.0, 100, 100, score=rng.random()) for i in range(num_running + num_waiting)]
    for r in reqs:
        ranked.add(r)
    times: list[float] = []  # s per step: begin_step + victims + admission (the decision)
    end_times: list[float] = []  # s per step: end_step (accounting after the step ran)
    num_preempted = 0
    for _ in range(num_steps):
        t0 = time.perf_counter()
        ranked.begin_step()
        for victim in ranked.victims(num_running):
            ranked.preempt(victim)
            victim.status = Status.PREEMPTED
            num_preempted += 1
        while ranked.num_running < num_running and (req := ranked.peek_waiting()) is not None:
            ranked.pop_waiting()
            ranked.start_running(req)
        t1 = time.perf_counter()
        scheduled = {r.request_id: 1 for r in ranked.running()}
        t2 = time.perf_counter()
        ranked.end_step(scheduled, 0.03)
        end_times.append(time.perf_counter() - t2)
        times.append(t1 - t0)
    # The naive alternative: sort every request by its key, every step.
    policy = make_policy("ltr")
    t0 = time.perf_counter()
    for _ in range(20):
        sorted(reqs, key=lambda r: (r.priority, 0 if r.promoted else 1, policy.rank(r), r.arrival_time))
    naive = (time.perf_counter() - t0) / 20
    times.sort()
    end_times.sort()
    return {"num_running": num_running, "num_waiting": num_waiting, "num_steps": num_steps,
            "mean_step_us": statistics.fmean(times) * 1e6, "median_step_us": times[len(times) // 2] * 1e6,
            "p99_step_us": times[int(len(times) * 0.99)] * 1e6, "max_step_us": times[-1] * 1e6,
            "full_sort_step_us": naive * 1e6,
            "mean_end_step_us": statistics.fmean(end_times) * 1e6,
            "median_end_step_us": end_times[len(end_times) // 2] * 1e6, "num_promotions": ranked.num_promotions,
            "num_preempted": num_preempted}


def _section(title: str, cmd: str, doc: dict[str, Any]) -> str:
    return (f"### {title}\n`{cmd}` (scores {doc['scores']}, Kendall tau {doc['kendall_tau']:.3f})\n\n"
            + markdown_table(doc["results"]) + "\n")


def tau_sweep(plot: str | None = None, taus: tuple[float, ...] = (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 0.9, 1.0),
              ) -> list[dict[str, Any]]:
    """Burst-2k mean per-token latency of ``ltr`` fed scores of chosen tau (the paper's Fig. 2b)."""
    rows = []
    fcfs = None
    for tau in taus:
        pol = ["ltr:starvation_threshold=0"] if fcfs is not None else ["fcfs", "ltr:starvation_threshold=0"]
        doc = run_config(SimulateConfig(workload="burst", num_requests=2000, policies=pol, scores=f"tau:{tau}"),
                         EngineConfig(), progress=False)
        if fcfs is None:
            fcfs = doc["results"][0]["mean_per_token_latency"]
        ltr = doc["results"][-1]["mean_per_token_latency"]
        rows.append({"scores": f"tau:{tau}", "kendall_tau": doc["kendall_tau"], "mean_per_token_latency": ltr,
                     ratio_name("mean_per_token_latency"): fcfs / ltr, "fcfs_mean_per_token_latency": fcfs})
    if plot:
        from ltrsched.sim.plots import plot_tau_sweep

        assert fcfs is not None
        plot_tau_sweep([(r["kendall_tau"], r["mean_per_token_latency"]) for r in rows], fcfs, plot)
    return rows


def _burst(scores: str, plot: str | None) -> tuple[Any, str]:
    pol = ["fcfs", "ltr:starvation_threshold=0", "ltr", "ltr:starvation_preempts=true",
           "mlfq:base_quantum_s=0.03:growth=10", "po", "srtf-oracle"]
    doc = run_config(SimulateConfig(workload="burst", num_requests=2000, policies=pol, scores=scores),
                     EngineConfig(), progress=False)
    rows = {r["policy"]: r for r in doc["results"]}
    fcfs, ltr, srtf = (rows[p]["mean_per_token_latency"] for p in ("fcfs", "ltr:starvation_threshold=0",
                                                                     "srtf-oracle"))
    doc["oracle_gain_captured"] = (fcfs - ltr) / (fcfs - srtf)
    return doc, (_section("Burst of 2,000 ShareGPT requests, Llama-3-8B/A100",
                          f"ltrsched simulate --workload burst --num-requests 2000 --scores {scores} "
                          f"--policies {','.join(pol)}", doc)
                 + f"\nLTR (no starvation prevention) captures {doc['oracle_gain_captured']:.0%} of the "
                   "SRTF-oracle gain.\n")


def _synthetic(scores: str, plot: str | None) -> tuple[Any, str]:
    pol = ["fcfs", "ltr:starvation_threshold=0", "srtf-oracle"]
    doc = run_config(SimulateConfig(workload="synthetic", num_requests=10000, policies=pol, scores=scores),
                     EngineConfig(), progress=False)
    return doc, _section("Synthetic data: first 1,000 of 10,000, finished in 300 s",
                         f"ltrsched simulate --workload synthetic --num-requests 10000 --scores {scores} "
                         f"--policies {','.join(pol)}", doc)


def _starvation(scores: str, plot: str | None) -> tuple[Any, str]:
    pol = ["fcfs", "ltr:starvation_threshold=0", "ltr", "ltr:starvation_preempts=true"]
    doc = run_config(SimulateConfig(workload="poisson", num_requests=2000, rates=[16.0, 24.0, 32.0],
                                    cost="llama3-70b-a100-tp8", policies=pol, scores=scores),
                     EngineConfig(), progress=False)
    return doc, _section("Starvation prevention: Poisson arrivals, 2,000 ShareGPT requests, Llama-3-70B/TP8 "
                         "(the paper's fairness setup)",
                         f"ltrsched simulate --workload poisson --num-requests 2000 --rates 16,24,32 "
                         f"--cost llama3-70b-a100-tp8 --scores {scores} --policies {','.join(pol)}", doc)


def _tau(scores: str, plot: str | None) -> tuple[Any, str]:
    rows = tau_sweep(plot)
    key = ratio_name("mean_per_token_latency")
    return rows, ("### Kendall tau vs latency (burst of 2,000 ShareGPT, `ltr` without starvation prevention)\n"
                  "`ltrsched bench sim --only tau --plot docs/sim-tau.png`\n\n| scores | tau | mean s/tok | "
                  "FCFS / this |\n|---|---|---|---|\n"
                  + "\n".join(f"| {r['scores']} | {r['kendall_tau']:.2f} | {r['mean_per_token_latency']:.3f} | "
                              f"{r[key]:.2f}x |" for r in rows) + "\n")


def _micro(scores: str, plot: str | None) -> tuple[Any, str]:
    m = micro()
    return m, ("### Policy decision per step (256 running + 10,000 waiting, LTR, starvation on)\n"
               "`ltrsched bench sim --micro`\n\n"
               f"mean {m['mean_step_us']:.1f} us, median {m['median_step_us']:.1f} us, p99 "
               f"{m['p99_step_us']:.1f} us, max {m['max_step_us']:.0f} us per step over {m['num_steps']} "
               f"steps ({m['num_promotions']} promotions, {m['num_preempted']} preemptions) for "
               f"begin_step + victims + admission; end_step (accounting for 256 scheduled) adds "
               f"{m['median_end_step_us']:.0f} us median. Re-sorting all requests instead costs "
               f"{m['full_sort_step_us']:.0f} us per step.\n")


# name -> section; ``tau`` (nine burst runs) runs only when named.
SECTIONS = {"burst": _burst, "synthetic": _synthetic, "starvation": _starvation, "tau": _tau, "micro": _micro}


def run_bench(only: set[str], scores: str = "ranker", plot: str | None = None) -> dict[str, Any]:
    """The sections named in ``only`` (all but ``tau`` when empty), each a JSON part and a Markdown section."""
    out: dict[str, Any] = {}
    parts: list[str] = []
    for name, section in SECTIONS.items():
        if name in only or (not only and name != "tau"):
            out[name], text = section(scores, plot)
            parts.append(text)
    out["markdown"] = "\n".join(parts)
    return out
