"""``ltrsched bench plugin``: what the plugin adds to each ``schedule()`` call, against vLLM's own priority scheduler.

No model: both schedulers run over a fake KV cache with fake model outputs (``ltrsched.vllm.harness``), fed the
same request stream, stepped in turn (in a random order each step) so machine noise hits both alike. The
stream keeps ``running`` slots full and about ``waiting`` requests queued, with a few arrivals (and finishes)
each step. With ``online`` a third scheduler, the plugin with the online ranker learning and the served log
writing every finished request, is stepped in the same turn: old and new side by side under the same noise.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ltrsched.policies import PolicyConfig


@dataclass(slots=True)
class OverheadConfig:
    running: int = 256  # max_num_seqs: running requests each step
    waiting: int = 2000  # requests kept waiting
    steps: int = 300  # measured schedule() calls per scheduler
    arrivals_per_step: int = 2  # new requests per step (scored at arrival)
    policy: str = "ltr"  # the plugin's policy spec, e.g. ltr, ltr:starvation_threshold=0, ltr:starvation_preempts=true
    seed: int = 0  # random seed of the request stream
    online: bool = False  # also time the plugin with online learning and the served log on (ltrsched-online)


def _llama_config_dir() -> str:
    """A folder with only a Llama config.json: vLLM's ModelConfig reads it; no weights are needed."""
    from transformers import LlamaConfig

    folder = Path(tempfile.mkdtemp(prefix="ltrsched-overhead-"))
    LlamaConfig(vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=8192).save_pretrained(folder)
    return str(folder)


class _Stream:
    """Reproducible requests: prompt 32-512 tokens, output 16-1024, a client score and an equivalent vLLM priority."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = 0

    def next(self) -> tuple[str, int, int, float]:
        self.n += 1
        out_len = self.rng.randint(16, 1024)
        score = -float(out_len) * self.rng.uniform(0.5, 1.5)  # a noisy ranker: higher = shorter
        return f"q{self.n}", self.rng.randint(32, 512), out_len, score


def _tokenizer_dir() -> str:
    """The tiny Llama's folder (config and tokenizer): the learner and the log detokenize finished prompts."""
    from ltrsched.vllm.models import build_tiny_llama

    return str(build_tiny_llama(Path(tempfile.mkdtemp(prefix="ltrsched-overhead-")) / "tiny"))


def _requests(spec: list[tuple[str, int, int, float]], plugin: bool) -> list[Any]:
    from ltrsched.vllm.harness import make_request

    # vLLM's priority: lower first; the same order as the plugin's score.
    return [make_request(rid, p, n, score=s) if plugin else make_request(rid, p, n, priority=int(-s))
            for rid, p, n, s in spec]


def _build(cfg: OverheadConfig) -> dict[str, Any]:
    """vLLM's priority scheduler and the plugin (and with ``online`` the plugin learning), same shape, over one
    fake KV cache size each."""
    from ltrsched.vllm.harness import HarnessConfig, build_scheduler

    model_dir = _tokenizer_dir() if cfg.online else _llama_config_dir()
    common: dict[str, Any] = {"max_num_seqs": cfg.running, "max_num_batched_tokens": 8192, "max_model_len": 2048,
              "num_blocks": (cfg.running + cfg.waiting) * 100, "block_size": 16}
    plugin_config = PolicyConfig.parse(cfg.policy).to_mapping()
    scheds = {"vllm": build_scheduler(HarnessConfig(model_dir, plugin=False, **common)),
              "ltrsched": build_scheduler(HarnessConfig(model_dir, plugin=True, ltrsched=plugin_config, **common))}
    if cfg.online:
        # Requests here carry client scores (no ranker runs), so no request has a shipped score for the default
        # online model to correct; the model of its own (residual 0) learns every row at the same cost per row.
        block = {**plugin_config, "online": True, "online_residual": 0.0,
                 "served_log": str(Path(model_dir).parent / "served.jsonl")}
        scheds["ltrsched-online"] = build_scheduler(HarnessConfig(model_dir, plugin=True, ltrsched=block, **common))
    return scheds


def _one_step(sched: Any) -> float:
    """Seconds inside ``schedule()`` (the fake model output is fed back untimed)."""
    from ltrsched.vllm.harness import fake_output

    t0 = time.perf_counter()
    out = sched.schedule()
    dt = time.perf_counter() - t0
    sched.update_from_output(out, fake_output(sched, out))
    return dt


def _warm_up(sched: Any, running: int) -> list[float]:
    """Prefill until every slot runs a decoding request (at most 200 steps); the untimed calls' seconds."""
    times = []
    for _ in range(200):
        times.append(_one_step(sched))
        if len(sched.running) >= running and all(r.num_computed_tokens >= r.num_tokens - 1 for r in sched.running):
            break
    return times


def _summary(ts: list[float], sched: Any, num_warmup: int, num_added: int) -> dict[str, Any]:
    """One scheduler's figures: timed ms per call, the call counts, and where its requests are at the end."""
    ms = sorted(t * 1e3 for t in ts[num_warmup:])
    return {"mean_ms": statistics.fmean(ms), "median_ms": statistics.median(ms),
            "p90_ms": ms[int(0.9 * (len(ms) - 1))], "running": len(sched.running), "waiting": len(sched.waiting),
            "num_timed_calls": len(ms), "num_calls": len(ts), "schedule_s": sum(ts),
            "num_added": num_added, "num_finished": num_added - len(sched.requests)}


def run_overhead(cfg: OverheadConfig, progress: bool = True) -> dict[str, Any]:
    """Mean/median/p90 ms per schedule() for vLLM's scheduler and the plugin, and the difference."""
    scheds = _build(cfg)
    stream = _Stream(cfg.seed)
    initial = [stream.next() for _ in range(cfg.running + cfg.waiting)]
    for name, sched in scheds.items():
        for req in _requests(initial, name != "vllm"):
            sched.add_request(req)
    times = {name: _warm_up(sched, cfg.running) for name, sched in scheds.items()}
    num_warmup = {name: len(ts) for name, ts in times.items()}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, desc="schedule() calls", unit="step", file=sys.stderr)
    names, order_rng = list(scheds), random.Random(cfg.seed)
    for _ in range(cfg.steps):  # in turn, so machine noise hits all alike; a fresh random order each step
        spec = [stream.next() for _ in range(cfg.arrivals_per_step)]
        order_rng.shuffle(names)  # whoever runs right after similar code finds warm caches: no fixed neighbour
        for name in names:
            sched = scheds[name]
            for req in _requests(spec, name != "vllm"):
                sched.add_request(req)
            times[name].append(_one_step(sched))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    num_added = len(initial) + cfg.steps * cfg.arrivals_per_step
    result: dict[str, Any] = {"config": asdict(cfg)}
    for name, sched in scheds.items():
        result[name] = _summary(times[name], sched, num_warmup[name], num_added)
    plug = scheds["ltrsched"]
    result["added_mean_ms"] = result["ltrsched"]["mean_ms"] - result["vllm"]["mean_ms"]
    result["added_median_ms"] = result["ltrsched"]["median_ms"] - result["vllm"]["median_ms"]
    result["plugin_own_ms_per_step"] = plug.ltr_stats.overhead_s / max(plug.ltr_stats.num_steps, 1) * 1e3
    result["plugin_stats"] = plug.ltrsched_stats()
    for name, sched in scheds.items():
        if name != "vllm":
            sched.shutdown()  # stops the ranker pool; the learner and the log writer finish their queues first
    if "ltrsched-online" in scheds:
        paired = [(a - b) * 1e3 for a, b in zip(times["ltrsched-online"][num_warmup["ltrsched-online"]:],
                                                times["ltrsched"][num_warmup["ltrsched"]:], strict=True)]
        result["online"] = _online_figures(result, scheds["ltrsched-online"], paired)
    return result


def _online_figures(result: dict[str, Any], sched: Any, paired_ms: list[float]) -> dict[str, Any]:
    """The online scheduler's figures beside the plain plugin's; ``paired_ms``: online minus plain, call by call
    (the same step of the same stream, run back to back: slow machine noise cancels)."""
    own = sched.ltr_stats.overhead_s / max(sched.ltr_stats.num_steps, 1) * 1e3
    return {"added_mean_ms": result["ltrsched-online"]["mean_ms"] - result["vllm"]["mean_ms"],
            "added_median_ms": result["ltrsched-online"]["median_ms"] - result["vllm"]["median_ms"],
            "vs_plugin_mean_ms": statistics.fmean(paired_ms), "vs_plugin_median_ms": statistics.median(paired_ms),
            "plugin_own_ms_per_step": own, "plugin_stats": sched.ltrsched_stats()}


def format_overhead(result: dict[str, Any]) -> str:
    """The text ``ltrsched bench plugin`` prints: both schedulers' ms per call and the plugin's share."""
    c = result["config"]
    lines = [f"schedule() at {c['running']} running + {c['waiting']} waiting, {c['steps']} calls each, "
             f"policy {c['policy']} (starvation {PolicyConfig.parse(c['policy']).starvation_threshold} steps)"]
    for name in ("vllm", "ltrsched", "ltrsched-online"):
        if name not in result:
            continue
        r = result[name]
        lines.append(f"  {name:9s} mean {r['mean_ms']:.3f} ms  median {r['median_ms']:.3f} ms  p90 {r['p90_ms']:.3f} "
                     f"ms  (running {r['running']}, waiting {r['waiting']})")
    lines.append(f"  added by the plugin: mean {result['added_mean_ms']:.3f} ms, median "
                 f"{result['added_median_ms']:.3f} ms; its own code {result['plugin_own_ms_per_step']:.3f} ms/step")
    if "online" in result:
        o, st = result["online"], result["online"]["plugin_stats"]
        lines.append(f"  added with online learning + served log: mean {o['added_mean_ms']:.3f} ms, median "
                     f"{o['added_median_ms']:.3f} ms; its own code {o['plugin_own_ms_per_step']:.3f} ms/step "
                     f"({st['num_online_rows']:.0f} rows learned, {st['num_online_dropped']:.0f} dropped, "
                     f"{st['num_served_logged']:.0f} logged); against the plain plugin, call by call: mean "
                     f"{o['vs_plugin_mean_ms']:+.3f} ms, median {o['vs_plugin_median_ms']:+.3f} ms")
    return "\n".join(lines)
