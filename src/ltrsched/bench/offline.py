"""Drive vLLM's offline engine (``LLMEngine.add_request`` / ``step``) with timed arrivals: each token's time is known.

The engine core runs in this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``): there is no child to leak, and the
plugin's scheduler (with its scoring counters) is reachable after the run. Each token is stamped when the ``step()``
that produced it returns, which is what a streaming client would see minus the network.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from ltrsched.bench.runs import PolicyRun, RequestTracker, RunResult, client_priorities, sampling_extra_args
from ltrsched.bench.workload import BenchRequest, sampling_fields
from ltrsched.vllm.server import PLUGIN_FACTORY, EngineConfig, cpu_env, kv_cache_must_fit, resolve_model


def build_engine(cfg: EngineConfig, run: PolicyRun, model: str | None = None) -> Any:
    os.environ.update(cpu_env(cfg.kv_cache_gib))
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    from vllm.v1.engine.llm_engine import LLMEngine

    from vllm import EngineArgs

    kwargs: dict[str, Any] = {"scheduling_policy": "priority"} if run.client_priority else {}
    if run.core is not None:
        kwargs = {"scheduling_policy": "priority", "scheduler_cls": PLUGIN_FACTORY,
                  "additional_config": {"ltrsched": run.plugin_block()}}
    args = EngineArgs(model=model or resolve_model(cfg.model), dtype=cfg.dtype, enforce_eager=cfg.enforce_eager,
                      max_model_len=cfg.max_model_len, max_num_seqs=cfg.max_num_seqs,
                      max_num_batched_tokens=cfg.step_budget(), enable_chunked_prefill=cfg.chunked_prefill,
                      seed=cfg.seed, **kwargs)
    with kv_cache_must_fit(cfg.kv_cache_gib):
        return LLMEngine.from_engine_args(args)


def engine_scheduler(engine: Any) -> Any:
    """The in-process scheduler object (None when the engine core runs in another process)."""
    core = getattr(getattr(engine, "engine_core", None), "engine_core", None)
    return getattr(core, "scheduler", None)


@contextlib.contextmanager
def open_engine(cfg: EngineConfig, run: PolicyRun, model: str | None = None) -> Iterator[tuple[Any, float]]:
    """A fresh engine with ``run``'s scheduler and the seconds it took to build; shut down on exit."""
    t_build = time.perf_counter()
    engine = build_engine(cfg, run, model)
    try:
        yield engine, time.perf_counter() - t_build
    finally:
        _shutdown(engine)


def run_offline(requests: list[BenchRequest], cfg: EngineConfig, run: PolicyRun, progress: bool = True,
                model: str | None = None) -> RunResult:
    """Serve ``requests`` at their arrival times on a fresh engine with ``run``'s scheduler; stop it afterwards."""
    with open_engine(cfg, run, model) as (engine, start_s):
        result = serve(engine, requests, run, progress)
        result.engine_start_s = start_s
        return result


def serve(engine: Any, requests: list[BenchRequest], run: PolicyRun, progress: bool = True) -> RunResult:
    """Add each request at its arrival time (s after now) and step until all finish."""
    from vllm.sampling_params import RequestOutputKind

    from vllm import SamplingParams

    tokenizer = engine.get_tokenizer()
    texts = [tokenizer.apply_chat_template(r.messages, add_generation_prompt=True, tokenize=False) for r in requests]
    pending = sorted(range(len(requests)), key=lambda i: requests[i].arrival_s)
    priorities = client_priorities(run, requests)
    tracker = RequestTracker(requests, progress=progress, label=run.name)
    before = plugin_stats(engine_scheduler(engine))
    t0 = time.perf_counter()
    nxt = 0
    while nxt < len(pending) or engine.has_unfinished_requests():
        now = time.perf_counter() - t0
        while nxt < len(pending) and requests[pending[nxt]].arrival_s <= now:
            req = requests[pending[nxt]]
            params = SamplingParams(**sampling_fields(req), output_kind=RequestOutputKind.DELTA,
                                    extra_args=sampling_extra_args(run, req))
            engine.add_request(req.request_id, texts[pending[nxt]], params,
                               priority=priorities.get(req.request_id, 0))
            nxt += 1
        if not engine.has_unfinished_requests():
            time.sleep(max(0.0, requests[pending[nxt]].arrival_s - (time.perf_counter() - t0)))
            continue
        outputs = engine.step()
        t = time.perf_counter() - t0
        for out in outputs:
            tracker.on_tokens(out.request_id, t, len(out.outputs[0].token_ids), len(out.prompt_token_ids or ()),
                              out.finished)
    wall_s = time.perf_counter() - t0
    after = plugin_stats(engine_scheduler(engine))
    tracker.close()
    delta = {k: v - before.get(k, 0.0) for k, v in after.items()}  # this run only (the engine may be reused)
    return RunResult(name=run.name, records=tracker.records(), wall_s=wall_s, plugin=delta,
                     num_failed=tracker.num_unfinished)


def plugin_stats(scheduler: Any) -> dict[str, float]:
    """The plugin's counters (scoring time, steps, preemptions, promotions) if it exposes ``ltrsched_stats()``."""
    fn = getattr(scheduler, "ltrsched_stats", None)
    if not callable(fn):
        return {}
    try:
        return {k: float(v) for k, v in dict(fn()).items()}
    except Exception as exc:  # a report must not die for a counter
        print(f"warning: could not read the plugin's stats: {exc}", file=sys.stderr)
        return {}


def _shutdown(engine: Any) -> None:
    try:
        engine.engine_core.shutdown()
    except Exception as exc:
        print(f"warning: engine shutdown: {exc}", file=sys.stderr)
    del engine
    gc.collect()
