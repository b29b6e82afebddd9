"""Helpers for tests that run the plugin in a real in-process vLLM engine (one engine at a time per process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ENGINE_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1",
              "VLLM_CPU_OMP_THREADS_BIND": "0-1", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}


def build_engine(model_dir: Path, ltrsched: dict[str, Any], **kwargs: Any) -> Any:
    from vllm.v1.engine.llm_engine import LLMEngine

    from vllm import EngineArgs

    block = {"trust_client_scores": True, **ltrsched}  # tests send scores as a trusted gateway would
    args = EngineArgs(model=str(model_dir), dtype="float32", enforce_eager=True, max_model_len=256,
                      max_num_seqs=kwargs.pop("max_num_seqs", 2), seed=0, scheduling_policy="priority",
                      scheduler_cls="ltrsched.vllm.make_scheduler", additional_config={"ltrsched": block},
                      **kwargs)
    return LLMEngine.from_engine_args(args)


def engine_scheduler(engine: Any) -> Any:
    return engine.engine_core.engine_core.scheduler


def internal_id(ids: Any, rid: str) -> str:
    """The engine-core id of the request added as ``rid`` (vLLM appends a random suffix)."""
    found = [key for key in ids if key == rid or key.startswith(rid + "-")]
    assert len(found) == 1, (rid, found)
    return found[0]


def sampling(max_tokens: int, score: float | None = None) -> Any:
    from vllm import SamplingParams

    return SamplingParams(temperature=0.0, max_tokens=max_tokens, ignore_eos=True,
                          extra_args={"ltr_score": score} if score is not None else None)
