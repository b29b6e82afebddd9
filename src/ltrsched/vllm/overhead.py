"""``ltrsched bench plugin``: what the plugin adds to each ``schedule()`` call, against vLLM's own priority Scheduler.

No model runs: both schedulers are vLLM's real ``Scheduler`` (ours via ``make_scheduler``) over a fake KV cache, fed
fake model outputs (``ltrsched.vllm.harness``). They get the same request stream (same lengths, same client
``ltr_score``s) and are stepped alternately, one step each, so machine noise hits both alike. Each step the waiting
queue is topped up to ``num_waiting`` and finished requests make room, so the plugin's ranking, admissions and
preemptions at ``max_num_seqs`` all run, at the target's scale (256 running + 2,000 waiting).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ltrsched.cliargs import add_dataclass_arguments, from_namespace


@dataclass(slots=True)
class OverheadConfig:
    """The microbenchmark's shape (defaults: the issue's target)."""

    num_running: int = field(default=256, metadata={"help": "max_num_seqs: requests running each step"})
    num_waiting: int = field(default=2000, metadata={"help": "waiting requests, topped up every step"})
    num_steps: int = field(default=150, metadata={"help": "timed schedule() calls per scheduler"})
    num_warmup_steps: int = field(default=20, metadata={"help": "untimed steps first (fill the batch)"})
    policy: str = field(default="ltr", metadata={"help": "ltrsched policy of the plugin"})
    starvation_threshold: int = field(default=200, metadata={"help": "plugin's starvation threshold (steps)"})
    min_prompt_len: int = field(default=8, metadata={"help": "prompt tokens, lowest"})
    max_prompt_len: int = field(default=64, metadata={"help": "prompt tokens, highest"})
    min_output_len: int = field(default=16, metadata={"help": "output tokens (max_tokens), lowest"})
    max_output_len: int = field(default=512, metadata={"help": "output tokens (max_tokens), highest"})
    max_num_batched_tokens: int = field(default=16384, metadata={"help": "vLLM token budget per step"})
    seed: int = field(default=0, metadata={"help": "request stream seed"})
    same_order: bool = field(default=True, metadata={"help": "give vLLM's requests priority = -score (its heap "
                                                             "then admits in the plugin's order), so the two "
                                                             "differ by the plugin's work, not by its choices"})
    preempt_for_waiting: bool = field(default=True, metadata={"help": "plugin evicts at max_num_seqs"})


@dataclass(slots=True)
class SchedulerTiming:
    """Per-call schedule() times of one scheduler (seconds)."""

    name: str  # "vllm-priority" or "ltrsched-<policy>"
    times_s: list[float] = field(default_factory=list)  # wall time of each timed schedule() call
    running: list[int] = field(default_factory=list)  # len(running) after each timed call
    waiting: list[int] = field(default_factory=list)  # len(waiting) after each timed call
    num_preempted: int = 0  # requests preempted during the timed calls
    num_admitted: int = 0  # requests scheduled for the first time or again after preemption, timed calls
    num_tokens: int = 0  # tokens scheduled during the timed calls

    def summary(self) -> dict[str, float]:
        ts = sorted(self.times_s)
        return {"mean_ms": 1e3 * statistics.fmean(ts), "median_ms": 1e3 * statistics.median(ts),
                "p90_ms": 1e3 * ts[int(0.9 * (len(ts) - 1))], "p99_ms": 1e3 * ts[int(0.99 * (len(ts) - 1))],
                "mean_running": statistics.fmean(self.running), "mean_waiting": statistics.fmean(self.waiting),
                "num_preempted": self.num_preempted, "num_admitted": self.num_admitted,
                "mean_tokens_per_step": self.num_tokens / len(ts)}


def _config_dir() -> Path:
    """A model folder with only a small Llama config.json: the scheduler reads nothing else (no weights)."""
    from transformers import LlamaConfig

    folder = Path(tempfile.mkdtemp(prefix="ltrsched-overhead-"))
    LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=1,
                num_key_value_heads=1, max_position_embeddings=4096).save_pretrained(folder)
    return folder


class _Stream:
    """The same deterministic request stream for every scheduler: the i-th request is the same everywhere."""

    def __init__(self, cfg: OverheadConfig) -> None:
        rng = random.Random(cfg.seed)
        self.cfg = cfg
        self.specs: list[tuple[int, int, float]] = []  # (prompt tokens, max_tokens, client ltr_score)
        self._rng = rng

    def spec(self, i: int) -> tuple[int, int, float]:
        while len(self.specs) <= i:
            c = self.cfg
            self.specs.append((self._rng.randint(c.min_prompt_len, c.max_prompt_len),
                               self._rng.randint(c.min_output_len, c.max_output_len), self._rng.gauss(0.0, 1.0)))
        return self.specs[i]


class _Driven:
    """One scheduler plus the index of the next request of the stream it has not seen yet."""

    def __init__(self, timing: SchedulerTiming, scheduler: Any, stream: _Stream, score_priority: bool) -> None:
        self.timing = timing
        self.scheduler = scheduler
        self.stream = stream
        self.score_priority = score_priority  # vLLM's priority = -score (micro-units), lower served first
        self.next_index = 0  # next request of the stream to add

    def top_up(self, target: int) -> None:
        from ltrsched.vllm.harness import make_request

        sched = self.scheduler
        while len(sched.running) + len(sched.waiting) < target:
            prompt_len, max_tokens, score = self.stream.spec(self.next_index)
            priority = -round(score * 1e6) if self.score_priority else 0
            sched.add_request(make_request(f"q{self.next_index}", prompt_len, max_tokens, score=score,
                                           priority=priority))
            self.next_index += 1

    def step(self, target: int, timed: bool) -> None:
        from ltrsched.vllm.harness import fake_output

        self.top_up(target)
        sched = self.scheduler
        t0 = time.perf_counter()
        out = sched.schedule()
        elapsed = time.perf_counter() - t0
        if timed:
            self.timing.times_s.append(elapsed)
            self.timing.running.append(len(sched.running))
            self.timing.waiting.append(len(sched.waiting))
            self.timing.num_preempted += len(out.preempted_req_ids or ())
            self.timing.num_admitted += len(out.scheduled_new_reqs)
            self.timing.num_tokens += out.total_num_scheduled_tokens
        sched.update_from_output(out, fake_output(sched, out))


def run_overhead(cfg: OverheadConfig, progress: bool = True) -> dict[str, Any]:
    """Both schedulers side by side; returns per-call times and the plugin's added time per call."""
    from tqdm import tqdm

    from ltrsched.vllm.harness import HarnessConfig, build_scheduler

    model_dir = str(_config_dir())
    max_model_len = cfg.max_prompt_len + cfg.max_output_len + 8
    common: dict[str, Any] = {"max_num_seqs": cfg.num_running, "max_num_batched_tokens": cfg.max_num_batched_tokens,
              "max_model_len": max_model_len, "num_blocks": 1_000_000, "block_size": 16}
    base = build_scheduler(HarnessConfig(model_dir, plugin=False, **common))
    plugin = build_scheduler(HarnessConfig(model_dir, plugin=True, ltrsched={
        "policy": cfg.policy, "starvation_threshold": cfg.starvation_threshold, "scoring": "off",
        "preempt_for_waiting": cfg.preempt_for_waiting}, **common))
    stream = _Stream(cfg)
    same = cfg.same_order and cfg.policy != "fcfs"
    driven = [_Driven(SchedulerTiming("vllm-priority"), base, stream, score_priority=same),
              _Driven(SchedulerTiming(f"ltrsched-{cfg.policy}"), plugin, stream, score_priority=False)]
    target = cfg.num_running + cfg.num_waiting
    total = cfg.num_warmup_steps + cfg.num_steps
    gc.collect()
    for k in tqdm(range(total), desc="schedule() calls", file=sys.stderr, disable=not progress):
        order = driven if k % 2 == 0 else driven[::-1]  # alternate who goes first
        for d in order:
            d.step(target, timed=k >= cfg.num_warmup_steps)
    plugin_own_s = plugin.ltr_overhead_s / max(plugin.ltr_num_steps, 1)
    base_sum, plug_sum = driven[0].timing.summary(), driven[1].timing.summary()
    return {"config": asdict(cfg), "vllm_priority": base_sum, "ltrsched": plug_sum,
            "added_mean_ms": plug_sum["mean_ms"] - base_sum["mean_ms"],
            "added_median_ms": plug_sum["median_ms"] - base_sum["median_ms"],
            "plugin_own_code_mean_ms": 1e3 * plugin_own_s,
            "plugin_stats": plugin.ltrsched_stats()}


def format_report(result: dict[str, Any]) -> str:
    cfg = result["config"]
    lines = [f"schedule() per call, {cfg['num_running']} running + {cfg['num_waiting']} waiting, "
             f"{cfg['num_steps']} timed calls each (alternating):",
             "| scheduler | mean ms | median ms | p90 ms | p99 ms | mean running | mean waiting | admitted | "
             "preempted | tokens/step |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key, name in (("vllm_priority", "vLLM Scheduler (priority)"), ("ltrsched", f"ltrsched ({cfg['policy']})")):
        s = result[key]
        lines.append(f"| {name} | {s['mean_ms']:.3f} | {s['median_ms']:.3f} | {s['p90_ms']:.3f} | {s['p99_ms']:.3f} "
                     f"| {s['mean_running']:.0f} | {s['mean_waiting']:.0f} | {s['num_admitted']} "
                     f"| {s['num_preempted']} | {s['mean_tokens_per_step']:.0f} |")
    lines.append(f"added per call: mean {result['added_mean_ms']:+.3f} ms, median {result['added_median_ms']:+.3f} ms; "
                 f"the plugin's own code (its counter): {result['plugin_own_code_mean_ms']:.3f} ms per call")
    return "\n".join(lines)


def register_bench(bench_commands: Any) -> None:
    """``ltrsched bench plugin``; called from ``ltrsched.vllm.cli.register``."""
    p = bench_commands.add_parser("plugin", help="schedule() overhead of the vLLM plugin vs vLLM's own scheduler "
                                                 "(no model; fake outputs)")
    add_dataclass_arguments(p, OverheadConfig)
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=_bench_plugin)


def _bench_plugin(args: argparse.Namespace) -> int:
    result = run_overhead(from_namespace(OverheadConfig, args), progress=args.progress)
    print(json.dumps(result) if args.json else format_report(result))
    return 0
