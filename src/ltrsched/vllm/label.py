"""``ltrsched label``: engine-consistent training labels, i.e. the served model's own output lengths for a prompt set.

The paper labels prompts with the served model's samples at temperature 1.0. Each request gets its own seed (a
fixed seed gives identical samples for identical prompts); with ``--samples 2`` the second sample, used as a
"prediction" of the first, gives the ranking-quality ceiling (the paper's "optimal prediction" tau).
``--natural`` samples as ``bench serve --lengths natural`` does (a chat setting). The engine is kept full
(``--chunk`` requests in it at once: an engine call per chunk idles most slots while a chunk's last long answers
finish) and each row is written as soon as it and every earlier prompt's rows are done, so the file is in prompt
order, a run cut short keeps what it labelled, and ``--resume`` labels only the prompts not in the file yet (the
seeds depend on the prompt's index, so a resumed file is the file one run would have written). Prompts are
rendered with the model's chat template exactly as ``bench serve`` renders them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltrsched.errors import UserError
from ltrsched.predictor.data import jsonl_lines, label_row
from ltrsched.vllm.server import EngineConfig, cpu_env, kv_cache_must_fit, resolve_model, without_chunked_prefill


@dataclass(slots=True)
class LabelConfig(EngineConfig):
    out: str = field(default="labels.jsonl", metadata={"help": "JSONL to write (one row per prompt and sample)"})
    prompts: str = field(default="sharegpt", metadata={"help": "'sharegpt' (first turns) or a prompt/messages JSONL"})
    split: str = field(default="train", metadata={"help": "ShareGPT split to label (train, val, test, all)"})
    num_prompts: int = field(default=200, metadata={"help": "how many prompts (the first N)"})
    samples: int = field(default=1, metadata={"help": "samples per prompt, each with its own seed (2 = tau ceiling)"})
    max_tokens: int = field(default=1024, metadata={"help": "output cap; capped rows have finish_reason 'length'"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature (the paper: 1.0)"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling"})
    repetition_penalty: float = field(default=1.0, metadata={"help": "vLLM repetition_penalty"})
    natural: bool = field(default=False, metadata={
        "help": "sample as `bench serve --lengths natural` (temperature 0.7, top_p 0.9, repetition penalty 1.1, "
                "cap 768); overrides the three sampling options and --max-tokens"})
    chunk: int = field(default=256, metadata={
        "help": "requests kept in the engine at once (at least --max-num-seqs keeps every slot busy); rows are "
                "written as they finish, in prompt order"})
    resume: bool = field(default=False, metadata={"help": "keep the rows already in --out, label the rest"})
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
    for lineno, line in jsonl_lines(path):
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


def sampling_of(cfg: LabelConfig) -> tuple[float, float, float, int]:
    """(temperature, top_p, repetition_penalty, max_tokens) the labels are sampled with."""
    if cfg.natural:
        from ltrsched.bench.workload import NATURAL, NATURAL_MAX_TOKENS

        return NATURAL.temperature, NATURAL.top_p, NATURAL.repetition_penalty, NATURAL_MAX_TOKENS
    return cfg.temperature, cfg.top_p, cfg.repetition_penalty, cfg.max_tokens


def done_ids(path: Path, samples: int) -> set[str]:
    """Prompt ids that already have all their samples in ``path`` (for ``--resume``); a bad line names itself."""
    counts: dict[str, int] = {}
    if not path.is_file():
        return set()
    for lineno, line in jsonl_lines(path):
        try:
            key = str(json.loads(line)["id"])
        except (ValueError, KeyError, TypeError):
            raise UserError(f"{path}:{lineno}: not a label row (cannot --resume from it); move the file away or "
                            "fix that line") from None
        counts[key] = counts.get(key, 0) + 1
    return {k for k, n in counts.items() if n >= samples}


def label(cfg: LabelConfig, progress: bool = True) -> dict[str, Any]:
    """Generate, write ``cfg.out`` (row by row, in prompt order); a summary (rows, capped share, two-sample tau)."""
    if cfg.samples < 1:
        raise UserError(f"--samples must be >= 1, got {cfg.samples}")
    if cfg.chunk < 1:
        raise UserError(f"--chunk must be >= 1, got {cfg.chunk}")
    prompts = load_prompt_set(cfg)
    if not prompts:
        raise UserError(f"no prompts to label from {cfg.prompts!r}")
    out_path = Path(cfg.out)
    skip = done_ids(out_path, cfg.samples) if cfg.resume else set()
    if not cfg.resume and out_path.exists():
        out_path.unlink()
    todo = [i for i, (pid, _) in enumerate(prompts) if pid not in skip]
    cfg = without_chunked_prefill(cfg, "labelling (every request is seeded)")
    os.environ.update(cpu_env(cfg.kv_cache_gib))
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # in-process: nothing to leak
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if todo:
        from vllm import LLM

        with kv_cache_must_fit(cfg.kv_cache_gib):
            llm = LLM(model=resolve_model(cfg.model), dtype=cfg.dtype, enforce_eager=cfg.enforce_eager,
                      max_model_len=cfg.max_model_len, max_num_seqs=cfg.max_num_seqs,
                      max_num_batched_tokens=cfg.step_budget(),
                      enable_chunked_prefill=cfg.chunked_prefill, seed=cfg.seed)
        try:
            with out_path.open("a", encoding="utf-8") as fh:
                for row in generate_rows(llm.llm_engine, prompts, todo, cfg, progress=progress, kept=len(skip)):
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                    fh.flush()
        finally:
            llm.llm_engine.engine_core.shutdown()
    print(f"wrote {len(todo) * cfg.samples} rows to {out_path}" + (f" ({len(skip)} prompts kept)" if skip else ""),
          file=sys.stderr)
    return summarize_labels(out_path, cfg.samples)


def generate_rows(engine: Any, prompts: list[tuple[str, list[dict[str, str]]]], todo: list[int], cfg: LabelConfig,
                  progress: bool = True, kept: int = 0) -> Iterator[dict[str, Any]]:
    """Label rows of ``todo`` (prompt indices) in prompt order, ``cfg.chunk`` requests in the engine at once."""
    from tqdm import tqdm
    from vllm.sampling_params import RequestOutputKind

    from vllm import SamplingParams

    temperature, top_p, repetition_penalty, max_tokens = sampling_of(cfg)
    tokenizer = engine.get_tokenizer()
    jobs = [(i, s) for i in todo for s in range(cfg.samples)]
    finished: dict[int, dict[str, Any]] = {}
    added = written = 0
    bar = tqdm(total=len(jobs), desc=f"labelling ({kept} prompts already in the file)", unit="row",
               disable=not progress, file=sys.stderr, mininterval=2.0)
    while written < len(jobs):
        while added < len(jobs) and added - written - len(finished) < cfg.chunk:
            i, s = jobs[added]
            text = tokenizer.apply_chat_template(prompts[i][1], add_generation_prompt=True, tokenize=False)
            engine.add_request(str(added), text, SamplingParams(
                temperature=temperature, top_p=top_p, repetition_penalty=repetition_penalty, max_tokens=max_tokens,
                seed=seed_of(cfg.seed, i, s), output_kind=RequestOutputKind.FINAL_ONLY))
            added += 1
        for out in engine.step():
            if out.finished:
                i, s = jobs[int(out.request_id)]
                comp = out.outputs[0]
                finished[int(out.request_id)] = label_row(
                    prompts[i][0], prompts[i][1], len(comp.token_ids), comp.finish_reason, s, seed_of(cfg.seed, i, s),
                    len(out.prompt_token_ids or ()))
        while written in finished:
            yield finished.pop(written)
            written += 1
            bar.update(1)
    bar.close()


def summarize_labels(path: Path, samples: int) -> dict[str, Any]:
    """Rows, capped share, mean length and, with two samples, the second sample's tau against the first (the
    file read as ``bench online-curve`` reads it: samples 0 and 1)."""
    from ltrsched.predictor.curve import read_stream

    stream = read_stream(path)
    two = stream.second >= 0
    num_rows = len(stream.lens) + int(two.sum())
    summary: dict[str, Any] = {
        "out": str(path), "num_prompts": len(stream.texts), "num_rows": num_rows,
        "capped_share": float(stream.censored.sum() + stream.second_censored[two].sum()) / num_rows,
        "mean_output_len": float(stream.lens.sum() + stream.second[two].sum()) / num_rows}
    if samples >= 2:
        from ltrsched.predictor.metrics import mean_list_tau, split_tau

        first, second = stream.lens[two].tolist(), stream.second[two].tolist()
        # Sample 1 as the "prediction" of sample 0: higher score = shorter, so negate its length.
        summary["optimal_tau_lists"] = mean_list_tau([-x for x in second], first)
        summary["optimal_tau_split"] = split_tau([-x for x in second], first)
    return summary
