"""A model-less vLLM scheduler driven with fake model outputs, as vLLM's own unit tests do.

For the overhead microbenchmark (thousands of requests, no engine) and for fast tests of the plugin's scheduling
decisions. Only the config folder of a model is read (``config.json``), never weights.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

EOS_TOKEN_ID = 2  # token the fake model emits only where told to stop (``stop_at``); else requests run to max_tokens


@dataclass(slots=True)
class HarnessConfig:
    """Shape of the fake engine."""

    model_dir: str  # a folder with config.json (the tiny Llama or any HF model folder)
    max_num_seqs: int = 16  # vLLM max_num_seqs
    max_num_batched_tokens: int = 8192  # vLLM token budget per step
    max_model_len: int = 4096  # tokens per request
    num_blocks: int = 100_000  # KV blocks (small numbers force KV-pressure preemption)
    block_size: int = 16  # tokens per KV block
    plugin: bool = True  # ltrsched's scheduler, else vLLM's own
    scheduling_policy: str = "priority"  # vLLM --scheduling-policy
    async_scheduling: bool = False  # vLLM's AsyncScheduler base (GPU default; forced off by the CPU platform)
    ltrsched: dict[str, Any] = field(default_factory=dict)  # the additional-config "ltrsched" block
    # ``make_request(score=...)`` sends scores as a client would (vllm_xargs ltr_score); the harness stands in for
    # an operator who trusts them, unless the block says otherwise.
    trust_client_scores: bool = True


def build_scheduler(cfg: HarnessConfig) -> Any:
    """vLLM's Scheduler (or ltrsched's via the real factory) over a fake KV cache."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("VLLM_ALLOW_LONG_MAX_MODEL_LEN", "1")  # no model runs: any length is fine
    import torch
    from vllm.config import CacheConfig, ModelConfig, SchedulerConfig, VllmConfig
    from vllm.v1.core.sched.scheduler import Scheduler
    from vllm.v1.kv_cache_interface import FullAttentionSpec, KVCacheConfig, KVCacheGroupSpec
    from vllm.v1.structured_output import StructuredOutputManager

    sched_cfg = SchedulerConfig(max_num_seqs=cfg.max_num_seqs, max_num_batched_tokens=cfg.max_num_batched_tokens,
                                max_model_len=cfg.max_model_len, enable_chunked_prefill=True,
                                policy=cfg.scheduling_policy, is_encoder_decoder=False,
                                async_scheduling=cfg.async_scheduling)
    model_cfg = ModelConfig(model=cfg.model_dir, dtype="float32", seed=0, max_model_len=cfg.max_model_len,
                            skip_tokenizer_init=True)
    cache_cfg = CacheConfig(block_size=cfg.block_size, cache_dtype="auto", enable_prefix_caching=False)
    vllm_config = VllmConfig(scheduler_config=sched_cfg, model_config=model_cfg, cache_config=cache_cfg,
                             additional_config={"ltrsched": _block(cfg)} if cfg.plugin else {})
    kv_cfg = KVCacheConfig(num_blocks=cfg.num_blocks, kv_cache_tensors=[], kv_cache_groups=[
        KVCacheGroupSpec(["layer"], FullAttentionSpec(block_size=cfg.block_size, num_kv_heads=1, head_size=1,
                                                      dtype=torch.float32))])
    cache_cfg.num_gpu_blocks = cfg.num_blocks
    kwargs = {"vllm_config": vllm_config, "kv_cache_config": kv_cfg,
              "structured_output_manager": StructuredOutputManager(vllm_config), "block_size": cfg.block_size,
              "log_stats": False}
    if cfg.plugin and cfg.async_scheduling:  # the factory would pick it, but VllmConfig turns async off on CPU
        from ltrsched.vllm.scheduler import LtrAsyncScheduler

        return LtrAsyncScheduler(**kwargs)
    if cfg.plugin:
        from ltrsched.vllm import make_scheduler

        return make_scheduler(**kwargs)
    if cfg.async_scheduling:
        from vllm.v1.core.sched.async_scheduler import AsyncScheduler

        return AsyncScheduler(**kwargs)
    return Scheduler(**kwargs)


def _block(cfg: HarnessConfig) -> dict[str, Any]:
    return {"trust_client_scores": cfg.trust_client_scores, **cfg.ltrsched}


def make_request(request_id: str, prompt_len: int, max_tokens: int, score: float | None = None,
                 priority: int = 0, arrival_time: float | None = None, extra_args: dict[str, Any] | None = None,
                 token_ids: Sequence[int] | None = None, ignore_eos: bool = True) -> Any:
    """A vLLM engine-core request with ``prompt_len`` dummy tokens (or the given ``token_ids``); ``score`` is sent
    as the client's ltr_score; with ``ignore_eos`` off it stops where ``fake_output``'s ``stop_at`` says."""
    from vllm.sampling_params import SamplingParams
    from vllm.v1.request import Request

    extra = dict(extra_args or {})
    if score is not None:
        extra["ltr_score"] = score
    params = SamplingParams(max_tokens=max_tokens, ignore_eos=ignore_eos, extra_args=extra or None)
    params.update_from_generation_config({}, EOS_TOKEN_ID)
    ids = list(token_ids) if token_ids is not None else [5] * prompt_len
    return Request(request_id=request_id, prompt_token_ids=ids, sampling_params=params,
                   pooling_params=None, arrival_time=arrival_time, priority=priority)


def fake_output(scheduler: Any, scheduler_output: Any, token_id: int = 7,
                stop_at: Mapping[str, int] | None = None) -> Any:
    """A ModelRunnerOutput that samples one token for every request whose prompt is now fully computed: EOS as
    the ``stop_at[request_id]``-th output token, ``token_id`` otherwise."""
    from vllm.v1.outputs import ModelRunnerOutput

    req_ids: list[str] = list(scheduler_output.num_scheduled_tokens)
    requests = scheduler.requests
    stops = stop_at or {}

    def sample(rid: str) -> list[int]:
        req = requests[rid]
        if req.num_computed_tokens < req.num_tokens:
            return []
        return [EOS_TOKEN_ID if req.num_output_tokens + 1 >= stops.get(rid, 1 << 30) else token_id]

    sampled = [sample(rid) for rid in req_ids]
    return ModelRunnerOutput(req_ids=req_ids, req_id_to_index={r: i for i, r in enumerate(req_ids)},
                             sampled_token_ids=sampled)


def step(scheduler: Any, stop_at: Mapping[str, int] | None = None) -> tuple[Any, Any]:
    """One engine step: schedule, fake the model, feed the outputs back. Returns (scheduler_output, engine outputs)."""
    out = scheduler.schedule()
    engine_outputs = scheduler.update_from_output(out, fake_output(scheduler, out, stop_at=stop_at))
    return out, engine_outputs


def add_all(scheduler: Any, requests: Sequence[Any]) -> None:
    for req in requests:
        scheduler.add_request(req)
