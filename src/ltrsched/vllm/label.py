"""``ltrsched label``: engine-consistent training labels, i.e. the served model's own output lengths for a prompt set.

The paper labels prompts with the served model's samples at temperature 1.0. Each request gets its own seed (a
fixed seed gives identical samples for identical prompts); with ``--samples 2`` the second sample, used as a
"prediction" of the first, gives the ranking-quality ceiling (the paper's "optimal prediction" tau).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltrsched.errors import UserError
from ltrsched.vllm.server import EngineConfig, cpu_env, resolve_model


@dataclass(slots=True)
class LabelConfig(EngineConfig):
    out: str = field(default="labels.jsonl", metadata={"help": "JSONL to write (one row per prompt and sample)"})
    prompts: str = field(default="sharegpt", metadata={"help": "'sharegpt' (first turns) or a prompt/messages JSONL"})
    split: str = field(default="train", metadata={"help": "ShareGPT split to label (train, val, test, all)"})
    num_prompts: int = field(default=200, metadata={"help": "how many prompts (the first N)"})
    samples: int = field(default=1, metadata={"help": "samples per prompt, each with its own seed (2 = tau ceiling)"})
    max_tokens: int = field(default=1024, metadata={"help": "output cap; capped rows have finish_reason 'length'"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature (the paper: 1.0)"})
    max_prompt_len: int = field(default=1024, metadata={"help": "skip longer prompts, tokens"})


def load_prompt_set(cfg: LabelConfig) -> list[tuple[str, list[dict[str, str]]]]:
    """(id, chat messages) for each prompt to label."""
    from ltrsched.predictor.prompts import as_messages

    if cfg.prompts == "sharegpt":
        from ltrsched.predictor.data import load_sharegpt

        rows = [e for e in load_sharegpt(split=cfg.split, turns="first") if e.prompt_len <= cfg.max_prompt_len]
        return [(e.id, as_messages(e.prompt)) for e in rows[:cfg.num_prompts]]
    return read_prompt_file(Path(cfg.prompts))[:cfg.num_prompts]


def read_prompt_file(path: Path) -> list[tuple[str, list[dict[str, str]]]]:
    """Rows with ``prompt`` (str) or ``messages`` (role/content list), optional ``id``; lengths are not needed.

    Rows are checked by the training loader's ``parse_row``, so a file that labels also trains.
    """
    from ltrsched.predictor.data import parse_row
    from ltrsched.predictor.prompts import as_messages

    if not path.is_file():
        raise UserError(f"--prompts {str(path)!r}: not 'sharegpt' and no such file")
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            prompt, _, _ = parse_row(row, need_output=False)
        except ValueError as exc:
            raise UserError(f"{path}:{lineno}: {exc}") from None
        out.append((str(row.get("id", f"line{lineno}")), as_messages(prompt)))
    return out


def seed_of(base: int, index: int, sample: int) -> int:
    """A distinct seed per (prompt, sample), stable across runs."""
    return base * 1_000_003 + index * 101 + sample


def label(cfg: LabelConfig, progress: bool = True) -> dict[str, Any]:
    """Generate, write ``cfg.out``, and return a summary (rows, capped share, sample-vs-sample tau)."""
    if cfg.samples < 1:
        raise UserError(f"--samples must be >= 1, got {cfg.samples}")
    prompts = load_prompt_set(cfg)
    if not prompts:
        raise UserError(f"no prompts to label from {cfg.prompts!r}")
    os.environ.update(cpu_env(cfg.kv_cache_gib))
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # in-process: nothing to leak
    from vllm import LLM, SamplingParams

    llm = LLM(model=resolve_model(cfg.model), dtype=cfg.dtype, enforce_eager=cfg.enforce_eager,
              max_model_len=cfg.max_model_len, max_num_seqs=cfg.max_num_seqs,
              max_num_batched_tokens=cfg.max_num_batched_tokens, seed=cfg.seed)
    try:
        convs = [msgs for _, msgs in prompts for _ in range(cfg.samples)]
        params = [SamplingParams(temperature=cfg.temperature, max_tokens=cfg.max_tokens,
                                 seed=seed_of(cfg.seed, i, s))
                  for i in range(len(prompts)) for s in range(cfg.samples)]
        outputs = llm.chat(convs, params, use_tqdm=progress)
    finally:
        llm.llm_engine.engine_core.shutdown()
    lens: list[list[int]] = [[] for _ in range(cfg.samples)]
    out_path = Path(cfg.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    num_capped = 0
    with out_path.open("w", encoding="utf-8") as fh:
        for j, out in enumerate(outputs):
            i, s = divmod(j, cfg.samples)
            comp = out.outputs[0]
            n = len(comp.token_ids)
            num_capped += comp.finish_reason == "length"
            lens[s].append(n)
            row = {"id": prompts[i][0], "messages": prompts[i][1], "output_len": n,
                   "finish_reason": comp.finish_reason, "sample": s, "seed": seed_of(cfg.seed, i, s),
                   "prompt_len": len(out.prompt_token_ids or ())}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    summary: dict[str, Any] = {"out": str(out_path), "num_prompts": len(prompts), "num_rows": len(outputs),
                               "capped_share": num_capped / len(outputs),
                               "mean_output_len": sum(map(sum, lens)) / len(outputs)}
    if cfg.samples >= 2:
        from ltrsched.predictor.metrics import mean_list_tau, split_tau

        # Sample 1 as the "prediction" of sample 0: higher score = shorter, so negate its length.
        summary["optimal_tau_lists"] = mean_list_tau([-x for x in lens[1]], lens[0])
        summary["optimal_tau_split"] = split_tau([-x for x in lens[1]], lens[0])
    print(f"wrote {len(outputs)} rows to {out_path}", file=sys.stderr)
    return summary
